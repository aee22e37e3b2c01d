#include "vrec/common/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace vrec {
namespace {

TEST(CheckJsonDepth, AcceptsBodiesWithinTheLimit) {
  EXPECT_TRUE(CheckJsonDepth(R"({"events":[{"user_id":1}]})", 3).ok());
  EXPECT_TRUE(CheckJsonDepth("1", 1).ok());
  EXPECT_TRUE(CheckJsonDepth("", 1).ok());
}

TEST(CheckJsonDepth, RejectsOneLevelTooDeep) {
  const Status s = CheckJsonDepth(R"({"events":[{"user_id":[1]}]})", 3);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("deeper than 3"), std::string::npos) << s.message();
}

TEST(CheckJsonDepth, IgnoresBracketsInsideStringsAndEscapes) {
  EXPECT_TRUE(CheckJsonDepth(R"({"a":"[[[[[[{{{{","b":"\"[[[["})", 1).ok());
  // An escaped backslash before the closing quote ends the string: the bracket after it counts.
  EXPECT_FALSE(CheckJsonDepth(R"({"a":"x\\",[[]]})", 2).ok());
}

TEST(CheckJsonDepth, HandlesHundredsOfThousandsOfBracketsWithoutRecursion) {
  const std::string deep(500'000, '[');
  const Status s = CheckJsonDepth(deep);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("at byte 32"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vrec
