#include "vrec/common/status.h"

#include <gtest/gtest.h>

#include "vrec/common/strings.h"

namespace vrec {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError(StrCat(x, " is odd"));
  return x / 2;
}

Status Quarter(int x, int& out) {
  VREC_ASSIGN_OR_RETURN(int h, Half(x));
  VREC_ASSIGN_OR_RETURN(out, Half(h));
  return OkStatus();
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = NotFoundError("no such video");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no such video");
  EXPECT_TRUE(OkStatus().ok());
}

TEST(StatusOr, PropagatesTheFirstError) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, out).ok());
  EXPECT_EQ(out, 2);
  Status s = Quarter(6, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "3 is odd");
}

TEST(Strings, CatJoinSplitLower) {
  EXPECT_EQ(StrCat("a", 1, '-', 2.5, std::string("z")), "a1-2.5z");
  EXPECT_EQ(StrJoin(std::vector<std::string>{"x", "y"}, "|"), "x|y");
  auto parts = SplitNonEmpty(" a | |b|", '|');
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], "a");
  EXPECT_EQ(parts[1], "b");
  EXPECT_EQ(AsciiStrToLower("MiXeD"), "mixed");
}

}  // namespace
}  // namespace vrec
