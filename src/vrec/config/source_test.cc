#include "vrec/config/source.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace vrec::config {
namespace {

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}
bool StartsWith(std::string_view text, std::string_view prefix) { return text.starts_with(prefix); }

// The value of `key` as TOML text, or "<unset>".
std::string ValueOf(const Source& src, std::string_view key) {
  const Entry* e = src.Find(key);
  return e == nullptr ? "<unset>" : ToToml(e->value);
}

std::vector<std::string> ProblemTexts(const Source& src) {
  std::vector<std::string> out;
  for (const Problem& p : src.problems()) out.push_back(p.ToString());
  return out;
}

std::vector<std::string> Keys(const Source& src) {
  std::vector<std::string> out;
  for (const Entry& e : src.entries()) out.push_back(e.key);
  return out;
}

TEST(Source, ParsesEveryTomlType) {
  Source src;
  src.LoadString(
      "# leading comment\n"                          // 1
      "log_level = \"info\"   # trailing comment\n"  // 2
      "[server]\n"                                   // 3
      "port = 8080\n"                                // 4
      "mask = 0x1F\n"                                // 5
      "ratio = 0.25\n"                               // 6
      "big = 1e300\n"                                // 7
      "access_log = false\n"                         // 8
      "path = 'C:\\dir'\n"                           // 9
      "text = \"tab\\there \\\"q\\\" \\u00e9\"\n"    // 10
      "videos = [12, 15, 99]\n"                      // 11
      "origins = [\n  \"a\",\n  \"b\",\n]\n"         // 12-15
      "empty = []\n"                                 // 16
      "mixed = [1, \"a\", [true]]\n"                 // 17
      "since = 1979-05-27T07:32:00Z\n"               // 18
      "motto = \"\"\"\nline one\nline two\"\"\"\n",  // 19-21
      "vrec.toml");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  const Entry* port = src.Find("server.port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->value, Value::Integer(8080));
  EXPECT_EQ(port->origin.ToString(), "vrec.toml:4");
  EXPECT_EQ(src.Find("log_level")->value, Value::String("info"));
  EXPECT_EQ(src.Find("server.mask")->value, Value::Integer(31));
  EXPECT_EQ(src.Find("server.ratio")->value, Value::Float(0.25));
  EXPECT_EQ(src.Find("server.big")->value, Value::Float(1e300));
  EXPECT_EQ(src.Find("server.access_log")->value, Value::Boolean(false));
  EXPECT_EQ(src.Find("server.path")->value, Value::String("C:\\dir"));
  EXPECT_EQ(src.Find("server.text")->value, Value::String("tab\there \"q\" \xC3\xA9"));
  EXPECT_EQ(src.Find("server.videos")->value,
            Value::Array({Value::Integer(12), Value::Integer(15), Value::Integer(99)}));
  EXPECT_EQ(src.Find("server.origins")->value, Value::Array({Value::String("a"), Value::String("b")}));
  EXPECT_EQ(src.Find("server.origins")->origin.line, 12);  // where the value starts
  EXPECT_EQ(src.Find("server.empty")->value, Value::Array({}));
  EXPECT_EQ(ValueOf(src, "server.mixed"), "[1, \"a\", [true]]");
  EXPECT_EQ(src.Find("server.since")->value.type, Value::Type::kDateTime);
  EXPECT_EQ(src.Find("server.since")->value.text, "1979-05-27T07:32:00Z");
  EXPECT_EQ(src.Find("server.motto")->value, Value::String("line one\nline two"));
  EXPECT_EQ(src.Find("server.motto")->origin.line, 19);
  EXPECT_EQ(ValueOf(src, "port"), "<unset>");
  // In file order, not in toml++'s (sorted) table order.
  EXPECT_EQ(Keys(src),
            (std::vector<std::string>{"log_level", "server.port", "server.mask", "server.ratio", "server.big",
                                      "server.access_log", "server.path", "server.text", "server.videos",
                                      "server.origins", "server.empty", "server.mixed", "server.since",
                                      "server.motto"}));
}

TEST(Source, TablesDottedKeysAndInlineTablesFlattenAlike) {
  Source src;
  src.LoadString(
      "a = { b = { c = 1 } }\n"
      "d.e.f = 2\n"
      "[experiment.variant.b]\n"
      "weight = 0.5\n"
      "ordering.max_per_category = 2\n"
      "[experiment.variant.a]\n"
      "weight = 1\n"
      "[server]\n"
      "tls = { cert = \"x.pem\", key.path = \"k.pem\" }\n",
      "vrec.toml");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  EXPECT_EQ(Keys(src), (std::vector<std::string>{"a.b.c", "d.e.f", "experiment.variant.b.weight",
                                                 "experiment.variant.b.ordering.max_per_category",
                                                 "experiment.variant.a.weight", "server.tls.cert",
                                                 "server.tls.key.path"}));
  EXPECT_EQ(ValueOf(src, "a.b.c"), "1");
  EXPECT_EQ(ValueOf(src, "experiment.variant.b.ordering.max_per_category"), "2");
  EXPECT_EQ(src.Find("experiment.variant.a.weight")->origin.ToString(), "vrec.toml:7");
}

TEST(Source, ArraysOfTablesStayValues) {
  Source src;
  src.LoadString("[[promo]]\nvideo = 12\nposition = 1\n[[promo]]\nvideo = 15\n", "vrec.toml");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  ASSERT_EQ(Keys(src), std::vector<std::string>{"promo"});
  const Value& promos = src.Find("promo")->value;
  ASSERT_EQ(promos.type, Value::Type::kArray);
  ASSERT_EQ(promos.items.size(), 2u);
  EXPECT_EQ(promos.items[0].type, Value::Type::kTable);
  EXPECT_EQ(ToToml(promos), "[{ position = 1, video = 12 }, { video = 15 }]");
}

TEST(Source, SyntaxErrorNamesLineAndColumnAndAddsNothing) {
  Source src;
  src.LoadString("[server]\nport = 9000\n[cache]\nttl = 1s\n", "vrec.toml");
  ASSERT_EQ(src.problems().size(), 1u);
  const Problem& p = src.problems()[0];
  EXPECT_EQ(p.origin.ToString(), "vrec.toml:4:8");
  EXPECT_TRUE(StartsWith(p.ToString(), "vrec.toml:4:8: Error while parsing")) << p.ToString();
  EXPECT_TRUE(Contains(p.message, "'s'")) << p.message;  // toml++'s description of what it saw
  EXPECT_FALSE(Contains(p.message, "vrec's config is TOML")) << p.message;  // no hint for a .toml file
  EXPECT_TRUE(src.entries().empty());  // not even the valid lines before the error
}

TEST(Source, DuplicateKeysAreSyntaxErrors) {
  {
    Source src;
    src.LoadString("[server]\nport = 1\nport = 2\n", "vrec.toml");
    ASSERT_EQ(src.problems().size(), 1u);
    EXPECT_TRUE(StartsWith(src.problems()[0].ToString(), "vrec.toml:3:")) << src.problems()[0].ToString();
    EXPECT_TRUE(Contains(src.problems()[0].message, "'port'")) << src.problems()[0].message;
    EXPECT_TRUE(src.entries().empty());
  }
  {
    Source src;  // a table defined twice
    src.LoadString("[server]\nport = 1\n[cache]\nttl = \"1s\"\n[server]\nthreads = 2\n", "vrec.toml");
    ASSERT_EQ(src.problems().size(), 1u);
    EXPECT_TRUE(StartsWith(src.problems()[0].ToString(), "vrec.toml:5:")) << src.problems()[0].ToString();
    EXPECT_TRUE(Contains(src.problems()[0].message, "'server'")) << src.problems()[0].message;
  }
}

TEST(Source, KeySetInTwoFilesIsAProblemAndTheFirstIsKept) {
  Source src;
  src.LoadString("[server]\nport = 1\n[cache]\nmax_entries = 3\n", "vrec.toml");
  src.LoadString("[cache]\nmax_entries = 4\n", "override.toml");
  EXPECT_EQ(ProblemTexts(src),
            (std::vector<std::string>{
                "override.toml:2: duplicate key 'cache.max_entries' (first set at vrec.toml:4)"}));
  EXPECT_EQ(ValueOf(src, "cache.max_entries"), "3");
}

TEST(Source, OldFormatFileGetsAHint) {
  // Valid in the format before TOML: an unquoted string, a bare duration, a comma-separated list.
  const std::string old = "[server]\naddress = 127.0.0.1\n[cache]\nttl = 1s\n";
  Source conf;
  conf.LoadString(old, "/etc/vrec/vrec.conf");
  ASSERT_EQ(conf.problems().size(), 1u);
  const std::string text = conf.problems()[0].ToString();
  EXPECT_TRUE(StartsWith(text, "/etc/vrec/vrec.conf:2:")) << text;
  EXPECT_TRUE(Contains(text,
                       " (vrec's config is TOML since version 0.2.0: quote durations and other strings, "
                       "e.g. ttl = \"1s\"; lists are arrays"))
      << text;
  Source toml;
  toml.LoadString(old, "vrec.toml");
  ASSERT_EQ(toml.problems().size(), 1u);
  EXPECT_FALSE(Contains(toml.problems()[0].message, "vrec's config is TOML")) << toml.problems()[0].message;
}

TEST(Source, KeysThatCannotBeDottedNamesAreProblems) {
  Source src;
  src.LoadString(
      "good = 1\n"
      "\"a.b\" = 2\n"
      "[t]\n"
      "\"x y\" = 3\n"
      "\"\" = 4\n"
      "[\"bad table\"]\n"
      "skipped = 5\n"
      "[fine]\n"
      "kept = true\n",
      "vrec.toml");
  EXPECT_EQ(ProblemTexts(src),
            (std::vector<std::string>{
                "vrec.toml:2: invalid key \"a.b\" (use letters, digits, '_' and '-' in each part)",
                "vrec.toml:4: invalid key t.\"x y\" (use letters, digits, '_' and '-' in each part)",
                "vrec.toml:5: invalid key t.\"\" (use letters, digits, '_' and '-' in each part)",
                "vrec.toml:6: invalid key \"bad table\" (use letters, digits, '_' and '-' in each part)",
            }));
  EXPECT_EQ(Keys(src), (std::vector<std::string>{"good", "fine.kept"}));
}

TEST(Source, AcceptsCrlfAndByteOrderMark) {
  Source src;
  src.LoadString("\xEF\xBB\xBF[s]\r\nk = \"v\"\r\nn = 2\r\n", "win.toml");
  EXPECT_TRUE(src.problems().empty()) << testing::PrintToString(ProblemTexts(src));
  EXPECT_EQ(ValueOf(src, "s.k"), "\"v\"");
  EXPECT_EQ(src.Find("s.n")->origin.ToString(), "win.toml:3");
}

TEST(Source, ToTomlReadsBackEqual) {
  const std::vector<Value> values = {
      Value::String(""),
      Value::String("plain"),
      Value::String("  padded # not a comment "),
      Value::String("quote \" backslash \\ newline \n tab \t cr \r"),
      Value::String(std::string("control \x01 \x1f del \x7f nul ") + '\0'),
      Value::String("unicode \xC3\xA9 \xE2\x82\xAC"),
      Value::Integer(0),
      Value::Integer(std::numeric_limits<int64_t>::min()),
      Value::Integer(std::numeric_limits<int64_t>::max()),
      Value::Float(0.1),
      Value::Float(500),
      Value::Float(-2.5e-8),
      Value::Float(1e300),
      Value::Float(5e-324),
      Value::Float(std::numeric_limits<double>::infinity()),
      Value::Float(-std::numeric_limits<double>::infinity()),
      Value::Boolean(true),
      Value::Array({}),
      Value::Array({Value::String("a"), Value::String("b, c")}),
      Value::Array({Value::Integer(1), Value::Array({Value::Float(0.5), Value::Boolean(false)})}),
  };
  for (const Value& v : values) {
    Source src;
    src.LoadString("k = " + ToToml(v) + "\n", "rt.toml");
    ASSERT_TRUE(src.problems().empty()) << ToToml(v) << ": " << testing::PrintToString(ProblemTexts(src));
    ASSERT_NE(src.Find("k"), nullptr) << ToToml(v);
    EXPECT_EQ(src.Find("k")->value, v) << ToToml(v);
  }
  Source nan;
  nan.LoadString("k = " + ToToml(Value::Float(std::nan(""))) + "\n", "rt.toml");
  ASSERT_TRUE(nan.problems().empty());
  EXPECT_TRUE(std::isnan(nan.Find("k")->value.number));
}

TEST(Source, LoadFileReadsAndNamesTheFile) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vrec_config_XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  std::string path = dir + "/vrec.toml";
  {
    std::ofstream f(path);
    f << "[server]\nport = 9000\n";
  }
  Source src;
  ASSERT_TRUE(src.LoadFile(path).ok());
  EXPECT_EQ(ValueOf(src, "server.port"), "9000");
  EXPECT_EQ(src.Find("server.port")->origin.ToString(), path + ":2");
  EXPECT_TRUE(src.problems().empty());

  Status missing = src.LoadFile(dir + "/absent.toml");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("absent.toml"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// The shipped files are valid TOML (that every key is known and valid is checked by
// config_example_test, through `vrec config check`, which binds every command's keys).
TEST(Source, ShippedConfigFilesAreToml) {
  for (const char* path : {"configs/vrec.toml", "configs/vrec.toml.example"}) {
    Source src;
    ASSERT_TRUE(src.LoadFile(path).ok()) << path;
    EXPECT_TRUE(src.problems().empty()) << path << ": " << testing::PrintToString(ProblemTexts(src));
    EXPECT_GT(src.entries().size(), 10u) << path;
  }
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

TEST(Source, OriginsWithAndWithoutColumns) {
  EXPECT_EQ(Origin::File("vrec.toml", 12).ToString(), "vrec.toml:12");
  EXPECT_EQ(Origin::File("vrec.toml", 12, 7).ToString(), "vrec.toml:12:7");
  EXPECT_EQ(Origin::Environment("VREC_SERVER_PORT").ToString(), "env VREC_SERVER_PORT");
  EXPECT_EQ(Origin{}.ToString(), "default");
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
