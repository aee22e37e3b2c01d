#include "vrec/config/values.h"

#include <gtest/gtest.h>

#include <limits>

namespace vrec::config {
namespace {

using std::chrono::nanoseconds;
using namespace std::chrono_literals;

TEST(ParseInt, AcceptsSignedDecimalsOnly) {
  EXPECT_EQ(*ParseInt("42"), 42);
  EXPECT_EQ(*ParseInt("-7"), -7);
  EXPECT_EQ(*ParseInt("+3"), 3);
  EXPECT_EQ(*ParseInt("9223372036854775807"), INT64_MAX);
  for (std::string_view bad : {"", "+", "1.0", "12abc", "0x10", " 1", "++1", "1e3"}) {
    EXPECT_FALSE(ParseInt(bad).ok()) << bad;
  }
  Status overflow = ParseInt("9223372036854775808").status();
  EXPECT_NE(overflow.message().find("64-bit"), std::string::npos) << overflow.message();
  EXPECT_EQ(ParseInt("abc").status().message(), "'abc' is not an integer");
}

TEST(ParseDouble, AcceptsFiniteNumbers) {
  EXPECT_EQ(*ParseDouble("0.5"), 0.5);
  EXPECT_EQ(*ParseDouble("-3"), -3.0);
  EXPECT_EQ(*ParseDouble("1e-4"), 1e-4);
  EXPECT_EQ(*ParseDouble("+2.5"), 2.5);
  for (std::string_view bad : {"", "abc", "inf", "nan", "-inf", "1e999", "0.5x", "1,5"}) {
    EXPECT_FALSE(ParseDouble(bad).ok()) << bad;
  }
}

TEST(ParseBool, AcceptsTheUsualSpellings) {
  for (std::string_view t : {"true", "TRUE", "yes", "Yes", "on", "1"}) EXPECT_TRUE(*ParseBool(t)) << t;
  for (std::string_view f : {"false", "False", "no", "NO", "off", "0"}) EXPECT_FALSE(*ParseBool(f)) << f;
  for (std::string_view bad : {"", "2", "y", "truee", "enabled"}) EXPECT_FALSE(ParseBool(bad).ok()) << bad;
}

TEST(ParseDuration, ReadsEveryUnitAndSequences) {
  EXPECT_EQ(*ParseDuration("0"), 0ns);
  EXPECT_EQ(*ParseDuration("15ns"), 15ns);
  EXPECT_EQ(*ParseDuration("20us"), 20us);
  EXPECT_EQ(*ParseDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseDuration("5s"), 5s);
  EXPECT_EQ(*ParseDuration("2m"), 2min);
  EXPECT_EQ(*ParseDuration("1h"), 1h);
  EXPECT_EQ(*ParseDuration("3d"), 72h);
  EXPECT_EQ(*ParseDuration("1h30m"), 90min);
  EXPECT_EQ(*ParseDuration("1m1s1ms"), 61001ms);
  EXPECT_EQ(*ParseDuration("0s"), 0ns);
}

TEST(ParseDuration, RejectsWithAReason) {
  auto reason = [](std::string_view text) { return ParseDuration(text).status().message(); };
  EXPECT_NE(reason("5").find("a unit is missing"), std::string::npos);
  EXPECT_NE(reason("10m5").find("a unit is missing"), std::string::npos);
  EXPECT_NE(reason("5sec").find("unknown unit 'sec'"), std::string::npos);
  EXPECT_NE(reason("5 s").find("unknown unit ' s'"), std::string::npos);
  EXPECT_NE(reason("-5s").find("negative"), std::string::npos);
  EXPECT_NE(reason("1.5s").find("whole numbers"), std::string::npos);
  EXPECT_NE(reason("").find("empty"), std::string::npos);
  EXPECT_NE(reason("107000d").find("too long"), std::string::npos);
  EXPECT_NE(reason("99999999999999999999s").find("too long"), std::string::npos);
  EXPECT_NE(reason("106751d23h47m16s854ms775us808ns").find("too long"), std::string::npos);  // INT64_MAX + 1
  EXPECT_TRUE(ParseDuration("106751d23h47m16s854ms775us807ns").ok());                        // INT64_MAX
}

TEST(FormatDuration, IsShortestAndRoundTrips) {
  EXPECT_EQ(FormatDuration(0ns), "0s");
  EXPECT_EQ(FormatDuration(250ms), "250ms");
  EXPECT_EQ(FormatDuration(90min), "1h30m");
  EXPECT_EQ(FormatDuration(1500ms), "1s500ms");
  EXPECT_EQ(FormatDuration(72h), "3d");
  EXPECT_EQ(FormatDuration(-2s), "-2s");
  EXPECT_EQ(FormatDuration(nanoseconds(INT64_MIN)), "-106751d23h47m16s854ms775us808ns");
  for (nanoseconds d :
       {nanoseconds(1), nanoseconds(1001), nanoseconds(86'400'000'000'001), nanoseconds(INT64_MAX)}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
}

TEST(SplitList, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(SplitList("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SplitList(""), std::vector<std::string>{});
  EXPECT_EQ(SplitList(" , "), std::vector<std::string>{});
  EXPECT_EQ(SplitList("one"), std::vector<std::string>{"one"});
}

TEST(EditDistance, CountsEditsAndAdjacentSwaps) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("", "ab"), 2u);
  EXPECT_EQ(EditDistance("server.port", "server.port"), 0u);
  EXPECT_EQ(EditDistance("sever.port", "server.port"), 1u);   // deletion
  EXPECT_EQ(EditDistance("server.prot", "server.port"), 1u);  // swap
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("serving.port", "server.port"), 3u);
}

std::string ErrorOf(const Status& s) { return s.ok() ? "<ok>" : std::string(s.message()); }

TEST(AsTypes, AcceptTheirTomlTypes) {
  EXPECT_EQ(*AsInt(Value::Integer(-7)), -7);
  EXPECT_EQ(*AsDouble(Value::Float(0.5)), 0.5);
  EXPECT_EQ(*AsDouble(Value::Integer(3)), 3.0);  // an integer where a number is expected is fine
  EXPECT_TRUE(*AsBool(Value::Boolean(true)));
  EXPECT_EQ(*AsString(Value::String("")), "");
  EXPECT_EQ(*AsStringList(Value::Array({})), std::vector<std::string>{});
  EXPECT_EQ(*AsStringList(Value::Array({Value::String(" a "), Value::String("b,c")})),
            (std::vector<std::string>{" a ", "b,c"}));  // items as written: no trimming, no splitting
  EXPECT_EQ(*AsDuration(Value::String("1h30m")), 90min);
  EXPECT_EQ(*AsDuration(Value::Integer(0)), 0ns);  // zero needs no unit
}

TEST(AsTypes, NameWhatWasExpectedAndWhatWasGiven) {
  EXPECT_EQ(ErrorOf(AsInt(Value::String("8080")).status()), "expected an integer, got a string \"8080\"");
  EXPECT_EQ(ErrorOf(AsInt(Value::Float(1.5)).status()), "expected an integer, got a float 1.5");
  EXPECT_EQ(ErrorOf(AsDouble(Value::String("0.5")).status()), "expected a number, got a string \"0.5\"");
  EXPECT_EQ(ErrorOf(AsDouble(Value::Float(std::numeric_limits<double>::infinity())).status()),
            "expected a finite number, got a float inf");
  EXPECT_EQ(ErrorOf(AsBool(Value::String("yes")).status()),
            "expected a boolean (true or false), got a string \"yes\"");
  EXPECT_EQ(ErrorOf(AsBool(Value::Integer(1)).status()),
            "expected a boolean (true or false), got an integer 1");
  EXPECT_EQ(ErrorOf(AsString(Value::Integer(2026)).status()), "expected a string, got an integer 2026");
  EXPECT_EQ(ErrorOf(AsString(Value::Array({Value::String("a")})).status()),
            "expected a string, got an array [\"a\"]");
  EXPECT_EQ(
      ErrorOf(AsStringList(Value::String("a, b,,c")).status()),
      "expected an array of strings, got a string \"a, b,,c\" (lists are arrays: [\"a\", \"b\", \"c\"])");
  EXPECT_EQ(ErrorOf(AsStringList(Value::Array({Value::String("a"), Value::Integer(12)})).status()),
            "expected an array of strings, got an integer 12 as item 2");
  EXPECT_EQ(
      ErrorOf(AsDuration(Value::Integer(10)).status()),
      "expected a duration string such as \"250ms\" or \"5s\", got an integer 10 (durations are strings "
      "with a unit, e.g. \"10s\")");
  EXPECT_EQ(ErrorOf(AsDuration(Value::Float(1.5)).status()),
            "expected a duration string such as \"250ms\" or \"5s\", got a float 1.5");
  EXPECT_EQ(ErrorOf(AsDuration(Value::String("10")).status()), ErrorOf(ParseDuration("10").status()));
  EXPECT_EQ(ErrorOf(AsInt({.type = Value::Type::kDateTime, .text = "1979-05-27"}).status()),
            "expected an integer, got a date-time 1979-05-27");
}

TEST(DescribeValue, CutsLongValues) {
  EXPECT_EQ(DescribeValue(Value::Boolean(false)), "a boolean false");
  EXPECT_EQ(DescribeValue(Value::Float(500)), "a float 500.0");
  const std::string long_text(100, 'x');
  EXPECT_EQ(DescribeValue(Value::String(long_text)), "a string \"" + std::string(59, 'x') + "...");
  // Never in the middle of a UTF-8 character: 30 two-byte characters after the quote.
  std::string accents;
  for (int i = 0; i < 30; ++i) accents += "\xC3\xA9";
  EXPECT_EQ(DescribeValue(Value::String(accents)), "a string \"" + accents.substr(0, 58) + "...");
}

}  // namespace
}  // namespace vrec::config
