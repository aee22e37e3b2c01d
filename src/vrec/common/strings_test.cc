#include "vrec/common/strings.h"

#include <gtest/gtest.h>

#include <string>

namespace vrec {
namespace {

TEST(ValidUtf8, KeepsWellFormedText) {
  const std::string text = "plain ascii, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x8E\xAC";
  EXPECT_EQ(ValidUtf8(text), text);
}

TEST(ValidUtf8, ReplacesEachBadByte) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("a\xFFz"), "a" + fffd + "z");                     // never valid
  EXPECT_EQ(ValidUtf8("\xC3"), fffd);                                   // truncated
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), fffd + fffd + fffd);             // a surrogate
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
}

TEST(QuoteString, EscapesWhatJsonAndTomlRequire) {
  EXPECT_EQ(QuoteString("plain"), "\"plain\"");
  EXPECT_EQ(QuoteString("a\"b\\c\nd\re\tf"), R"("a\"b\\c\nd\re\tf")");
  EXPECT_EQ(QuoteString(std::string("\x01\x1f\x7f\0", 4)), R"("\u0001\u001f\u007f\u0000")");
  EXPECT_EQ(QuoteString("caf\xC3\xA9 \xFF"),
            "\"caf\xC3\xA9 \xEF\xBF\xBD\"");  // UTF-8 kept, bad bytes replaced
}

}  // namespace
}  // namespace vrec

namespace vrec {
namespace {

TEST(PercentDecode, DecodesEscapesAndRefusesBrokenOnes) {
  EXPECT_EQ(PercentDecode("a%2Fb%2fc%25"), "a/b/c%");
  EXPECT_EQ(PercentDecode("plain"), "plain");
  for (const char* bad : {"%", "%2", "a%G1", "%%"}) EXPECT_FALSE(PercentDecode(bad).has_value()) << bad;
}

}  // namespace
}  // namespace vrec
