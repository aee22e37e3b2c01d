#include "vrec/config/source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace vrec::config {
namespace {

std::string ValueOf(const Source& src, std::string_view key) {
  const Entry* e = src.Find(key);
  return e == nullptr ? "<unset>" : e->value;
}

std::vector<std::string> ProblemTexts(const Source& src) {
  std::vector<std::string> out;
  for (const Problem& p : src.problems()) out.push_back(p.ToString());
  return out;
}

TEST(Source, ParsesCommentsSectionsAndValues) {
  Source src;
  src.LoadString(
      "# leading comment\n"
      "\n"
      "log_level = info   # top-level key, trailing comment\n"
      "[server]\n"
      "  port=8080\n"
      "host = 0.0.0.0 \n"
      "tls.cert = /etc/vrec.pem\n"
      "[ experiment.variant.b ]  # nested section\n"
      "weight = 0.5\n"
      "empty =\n"
      "empty_with_comment = # nothing here\n",
      "vrec.conf");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  EXPECT_EQ(ValueOf(src, "log_level"), "info");
  EXPECT_EQ(ValueOf(src, "server.port"), "8080");
  EXPECT_EQ(ValueOf(src, "server.host"), "0.0.0.0");
  EXPECT_EQ(ValueOf(src, "server.tls.cert"), "/etc/vrec.pem");
  EXPECT_EQ(ValueOf(src, "experiment.variant.b.weight"), "0.5");
  EXPECT_EQ(ValueOf(src, "experiment.variant.b.empty"), "");
  EXPECT_EQ(ValueOf(src, "experiment.variant.b.empty_with_comment"), "");
  EXPECT_EQ(ValueOf(src, "port"), "<unset>");
  ASSERT_EQ(src.entries().size(), 7u);
  EXPECT_EQ(src.Find("server.port")->origin.ToString(), "vrec.conf:5");
  EXPECT_EQ(src.Find("experiment.variant.b.weight")->origin.ToString(), "vrec.conf:9");
}

TEST(Source, QuotedValuesKeepSpacesHashesAndEscapes) {
  Source src;
  src.LoadString(
      "a = \"  padded  \"\n"
      "b = \"vrec #1 \\\"main\\\" C:\\\\x\"   # comment after quotes\n"
      "c = \"\"\n"
      "d = say \"hi\"\n"  // quotes inside an unquoted value are literal
      "e = \"x = y\"\n",
      "t.conf");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  EXPECT_EQ(ValueOf(src, "a"), "  padded  ");
  EXPECT_EQ(ValueOf(src, "b"), "vrec #1 \"main\" C:\\x");
  EXPECT_EQ(ValueOf(src, "c"), "");
  EXPECT_EQ(ValueOf(src, "d"), "say \"hi\"");
  EXPECT_EQ(ValueOf(src, "e"), "x = y");
}

TEST(Source, AcceptsCrlfAndByteOrderMark) {
  Source src;
  src.LoadString("\xEF\xBB\xBF[s]\r\nk = v\r\nq = \"w\"\r\n", "win.conf");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  EXPECT_EQ(ValueOf(src, "s.k"), "v");
  EXPECT_EQ(ValueOf(src, "s.q"), "w");
}

TEST(Source, ReportsDuplicateKeysWithBothLines) {
  Source src;
  src.LoadString("[server]\nport = 1\n[cache]\nsize = 3\n[server]\nport = 2\n", "vrec.conf");
  ASSERT_EQ(src.problems().size(), 1u);
  EXPECT_EQ(src.problems()[0].ToString(),
            "vrec.conf:6: duplicate key 'server.port' (first set at vrec.conf:2)");
  EXPECT_EQ(ValueOf(src, "server.port"), "1");  // the first setting is kept
  // The same key in a second file is a duplicate too.
  src.LoadString("[cache]\nsize = 4\n", "override.conf");
  ASSERT_EQ(src.problems().size(), 2u);
  EXPECT_EQ(src.problems()[1].ToString(),
            "override.conf:2: duplicate key 'cache.size' (first set at vrec.conf:4)");
}

TEST(Source, CollectsEverySyntaxErrorAndKeepsGoodLines) {
  Source src;
  src.LoadString(
      "good = 1\n"                // 1
      "just some words\n"         // 2
      "[server\n"                 // 3
      "skipped = 1\n"             // 4: under a broken header
      "[ok]\n"                    // 5
      "bad key = 2\n"             // 6
      "q = \"unterminated\n"      // 7
      "r = \"x\" trailing\n"      // 8
      "s = \"bad \\n escape\"\n"  // 9
      "[bad section!]\n"          // 10
      "also_skipped = 3\n"        // 11
      "[ok2] junk\n"              // 12
      "= novalue\n"               // 13
      "[fine]\n"                  // 14
      "kept = yes\n",             // 15
      "c.conf");
  std::vector<std::string> problems = ProblemTexts(src);
  ASSERT_EQ(problems.size(), 9u) << testing::PrintToString(problems);
  EXPECT_EQ(problems[0], "c.conf:2: expected 'key = value' or '[section]', got 'just some words'");
  EXPECT_EQ(problems[1], "c.conf:3: section header is missing its closing ']'");
  EXPECT_EQ(problems[2].substr(0, 22), "c.conf:6: invalid key ");
  EXPECT_EQ(problems[3], "c.conf:7: ok.q: quoted value is missing its closing '\"'");
  EXPECT_EQ(problems[4], "c.conf:8: ok.r: unexpected text after the closing quote: 'trailing'");
  EXPECT_EQ(problems[5].substr(0, 33), "c.conf:9: ok.s: unknown escape '\\");
  EXPECT_EQ(problems[6].substr(0, 35), "c.conf:10: invalid section name 'ba");
  EXPECT_EQ(problems[7], "c.conf:12: unexpected text after section header: 'junk'");
  EXPECT_EQ(problems[8].substr(0, 25), "c.conf:13: invalid key ''");
  EXPECT_EQ(ValueOf(src, "good"), "1");
  EXPECT_EQ(ValueOf(src, "fine.kept"), "yes");
  EXPECT_EQ(src.entries().size(), 2u);  // lines under broken headers are not attributed elsewhere
}

TEST(Source, LoadFileReadsAndNamesTheFile) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vrec_config_XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  std::string path = dir + "/vrec.conf";
  {
    std::ofstream f(path);
    f << "[server]\nport = 9000\nport = 9001\n";
  }
  Source src;
  ASSERT_TRUE(src.LoadFile(path).ok());
  EXPECT_EQ(ValueOf(src, "server.port"), "9000");
  EXPECT_EQ(src.Find("server.port")->origin.ToString(), path + ":2");
  ASSERT_EQ(src.problems().size(), 1u);
  EXPECT_EQ(src.problems()[0].origin.ToString(), path + ":3");

  Status missing = src.LoadFile(dir + "/absent.conf");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("absent.conf"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Source, EnvironmentKeepsOnlyVrecVariables) {
  const char* envp[] = {"PATH=/usr/bin", "VREC_SERVER_PORT=81", "VREC_EMPTY=", "VREC_EQ=a=b", "NOEQUALS",
                        nullptr};
  Source src;
  src.LoadEnvironment(envp);
  ASSERT_NE(src.FindEnv("VREC_SERVER_PORT"), nullptr);
  EXPECT_EQ(*src.FindEnv("VREC_SERVER_PORT"), "81");
  ASSERT_NE(src.FindEnv("VREC_EMPTY"), nullptr);  // set-but-empty counts as set
  EXPECT_EQ(*src.FindEnv("VREC_EMPTY"), "");
  EXPECT_EQ(*src.FindEnv("VREC_EQ"), "a=b");
  EXPECT_EQ(src.FindEnv("PATH"), nullptr);
  src.LoadEnvironment({{"VREC_SERVER_PORT", "82"}, {"HOME", "/root"}});
  EXPECT_EQ(*src.FindEnv("VREC_SERVER_PORT"), "82");  // a later snapshot wins
  EXPECT_EQ(src.FindEnv("HOME"), nullptr);
}

TEST(Source, FormatValueRoundTrips) {
  for (std::string value : {"plain", "", "  padded ", "has # hash", "\"leading quote", "back\\slash",
                            "mid \"quote\"", "a, b, c"}) {
    Source src;
    src.LoadString("k = " + FormatValue(value) + "\n", "rt");
    ASSERT_TRUE(src.problems().empty()) << value << " -> " << FormatValue(value);
    EXPECT_EQ(ValueOf(src, "k"), value) << FormatValue(value);
  }
  EXPECT_EQ(FormatValue("plain"), "plain");
  EXPECT_EQ(FormatValue(""), "\"\"");
}

TEST(Source, ValidNames) {
  EXPECT_TRUE(IsValidName("server"));
  EXPECT_TRUE(IsValidName("experiment.variant.b-2"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("a..b"));
  EXPECT_FALSE(IsValidName(".a"));
  EXPECT_FALSE(IsValidName("a."));
  EXPECT_FALSE(IsValidName("a b"));
}

}  // namespace
}  // namespace vrec::config
