#include "vrec/common/csv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace vrec {
namespace {

std::string WriteTemp(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / ("vrec_csv_test_" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

TEST(DelimitedReader, SplitsPlainAndQuotedFieldsWithLineNumbers) {
  auto path = WriteTemp("quoted.csv", "a,b,c\r\n1,\"x, \"\"y\"\"\",3\n4,\"multi\nline\",6\n");
  auto reader = DelimitedReader::Open(path, ',', true);
  ASSERT_TRUE(reader.ok());
  std::vector<std::string_view> f;
  ASSERT_TRUE(reader->Next(f));
  EXPECT_EQ(f, (std::vector<std::string_view>{"a", "b", "c"}));
  ASSERT_TRUE(reader->Next(f));
  EXPECT_EQ(f, (std::vector<std::string_view>{"1", "x, \"y\"", "3"}));
  EXPECT_EQ(reader->line(), 2);
  ASSERT_TRUE(reader->Next(f));
  EXPECT_EQ(f[1], "multi\nline");
  EXPECT_EQ(reader->line(), 3);
  EXPECT_FALSE(reader->Next(f));
  EXPECT_TRUE(reader->status().ok());
}

TEST(DelimitedReader, UnterminatedQuoteIsAnErrorWithFileAndLine) {
  auto path = WriteTemp("open.csv", "a,b\n1,\"never closed\n");
  auto reader = DelimitedReader::Open(path, ',', true);
  ASSERT_TRUE(reader.ok());
  std::vector<std::string_view> f;
  ASSERT_TRUE(reader->Next(f));
  EXPECT_FALSE(reader->Next(f));
  EXPECT_EQ(reader->status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reader->status().message().find("open.csv:2:"), std::string::npos);
}

TEST(DelimitedReader, MissingFileIsNotFound) {
  auto reader = DelimitedReader::Open("/nonexistent/vrec/file.csv", ',', true);
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
}

TEST(Parse, NumbersMustBeWholeFields) {
  uint64_t u;
  int64_t i;
  double d;
  EXPECT_TRUE(ParseUint64(" 42 ", u));
  EXPECT_EQ(u, 42u);
  EXPECT_FALSE(ParseUint64("42x", u));
  EXPECT_FALSE(ParseUint64("-1", u));
  EXPECT_FALSE(ParseUint64("", u));
  EXPECT_TRUE(ParseInt64("-7", i));
  EXPECT_EQ(i, -7);
  EXPECT_TRUE(ParseDouble("0.25", d));
  EXPECT_DOUBLE_EQ(d, 0.25);
  EXPECT_FALSE(ParseDouble("nan", d));
  EXPECT_FALSE(ParseDouble("1.5.2", d));
}

TEST(Utf8, ValidatesAndConvertsLatin1) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));
  EXPECT_FALSE(IsValidUtf8("caf\xE9"));
  EXPECT_EQ(Latin1ToUtf8("caf\xE9"), "caf\xC3\xA9");
}

TEST(AppendCsvField, QuotesOnlyWhenNeeded) {
  std::string out;
  AppendCsvField(out, "plain");
  out.push_back(',');
  AppendCsvField(out, "a,\"b\"");
  EXPECT_EQ(out, "plain,\"a,\"\"b\"\"\"");
}

}  // namespace
}  // namespace vrec
