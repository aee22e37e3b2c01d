#include "vrec/config/binder.h"

#include <gtest/gtest.h>

namespace vrec::config {
namespace {

using namespace std::chrono_literals;

enum class Watched { kAny, kFinished, kNever };

// A config struct in the shape the stages use: defaults in member initialisers.
struct TestConfig {
  int port = 8080;
  uint16_t threads = 4;
  double explore = 0.1;
  bool cache_enabled = true;
  std::string model_dir = "models/current";
  std::vector<std::string> filters = {"watched", "blocked"};
  std::chrono::milliseconds cache_ttl = 30s;
  Watched watched = Watched::kAny;
  int64_t top_k = 50;
  int64_t candidates = 500;
  std::string log_level = "info";
};

void BindAll(Binder& b, TestConfig* c) {
  b.String("log_level", &c->log_level, {.help = "Log level."});
  b.Int("server.port", &c->port, {.min = 1, .max = 65535, .help = "TCP port."});
  b.Int("server.threads", &c->threads, {.min = 1, .help = "Worker threads."});
  b.Double("ordering.explore", &c->explore, {.min = 0, .max = 1, .help = "Exploration share."});
  b.Bool("cache.enabled", &c->cache_enabled, {.help = "Cache responses."});
  b.Duration("cache.ttl", &c->cache_ttl,
             {.min = 1s, .max = 24h, .help = "Time to live\nof a cached response."});
  b.String("serving.model_dir", &c->model_dir, {.help = "Deployed model directory."});
  b.StringList("filtering.filters", &c->filters, {.help = "Filters in order."});
  b.Enum("filtering.watched", &c->watched,
         {{"any", Watched::kAny}, {"finished", Watched::kFinished}, {"never", Watched::kNever}},
         {.help = "Which watched videos to drop."});
  b.Int("ranking.top_k", &c->top_k, {.min = 1});
  b.Int("retrieval.candidates", &c->candidates, {.min = 1});
  b.Check(c->top_k <= c->candidates, "ranking.top_k", "must not exceed retrieval.candidates");
}

Source FromText(std::string_view text, const std::map<std::string, std::string>& env = {}) {
  Source src;
  src.LoadString(text, "vrec.toml");
  src.LoadEnvironment(env);
  return src;
}

// For tests where every setting is either unset or refused: the struct keeps its defaults.
void ExpectDefaults(const TestConfig& c) {
  const TestConfig d;
  EXPECT_EQ(c.port, d.port);
  EXPECT_EQ(c.threads, d.threads);
  EXPECT_EQ(c.explore, d.explore);
  EXPECT_EQ(c.cache_enabled, d.cache_enabled);
  EXPECT_EQ(c.model_dir, d.model_dir);
  EXPECT_EQ(c.filters, d.filters);
  EXPECT_EQ(c.cache_ttl, d.cache_ttl);
  EXPECT_EQ(c.watched, d.watched);
  EXPECT_EQ(c.top_k, d.top_k);
  EXPECT_EQ(c.candidates, d.candidates);
  EXPECT_EQ(c.log_level, d.log_level);
}

std::vector<std::string> ProblemTexts(const Binder& b) {
  std::vector<std::string> out;
  for (const Problem& p : b.Problems()) out.push_back(p.ToString());
  return out;
}

// Binds every key of TestConfig to `src` into `c`; the problems as text.
std::vector<std::string> BindAllProblems(const Source& src, TestConfig& c) {
  Binder b(src);
  BindAll(b, &c);
  return ProblemTexts(b);
}

TEST(Binder, LeavesDefaultsWhenNothingIsSet) {
  Source src = FromText("");
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  ASSERT_TRUE(b.Finish().ok()) << b.Finish().ToString();
  TestConfig defaults;
  EXPECT_EQ(c.port, defaults.port);
  EXPECT_EQ(c.filters, defaults.filters);
  EXPECT_EQ(c.cache_ttl, defaults.cache_ttl);
  EXPECT_EQ(c.watched, defaults.watched);
  ASSERT_EQ(b.keys().size(), 11u);
  EXPECT_EQ(b.keys()[1].key, "server.port");
  EXPECT_EQ(b.keys()[1].env_var, "VREC_SERVER_PORT");
  EXPECT_EQ(b.keys()[1].type, "integer in [1, 65535]");
  EXPECT_EQ(b.keys()[1].default_value, "8080");
  EXPECT_EQ(b.keys()[5].default_value, "\"30s\"");
  EXPECT_EQ(b.keys()[7].default_value, "[\"watched\", \"blocked\"]");
  EXPECT_EQ(b.keys()[8].default_value, "\"any\"");
  EXPECT_EQ(b.keys()[1].origin.kind, Origin::Kind::kDefault);
}

TEST(Binder, ReadsEveryTypeFromTheFile) {
  Source src = FromText(
      "log_level = \"debug\"\n"
      "[server]\nport = 9090\nthreads = 16\n"
      "[ordering]\nexplore = 0.25\n"
      "[cache]\nenabled = false\nttl = \"1h30m\"\n"
      "[serving]\nmodel_dir = \" /srv/models/v7 \"\n"
      "[filtering]\nfilters = [\"blocked\", \"region\", \"age\"]\nwatched = \"finished\"\n"
      "[ranking]\ntop_k = 20\n");
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  ASSERT_TRUE(b.Finish().ok()) << b.Finish().ToString();
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.threads, 16);
  EXPECT_EQ(c.explore, 0.25);
  EXPECT_FALSE(c.cache_enabled);
  EXPECT_EQ(c.cache_ttl, 90min);
  EXPECT_EQ(c.model_dir, " /srv/models/v7 ");
  EXPECT_EQ(c.filters, (std::vector<std::string>{"blocked", "region", "age"}));
  EXPECT_EQ(c.watched, Watched::kFinished);
  EXPECT_EQ(c.top_k, 20);
  EXPECT_EQ(c.candidates, 500);  // unset: default
  EXPECT_EQ(b.keys()[1].origin.ToString(), "vrec.toml:3");
}

TEST(Binder, EnvironmentOverridesTheFile) {
  Source src = FromText(
      "[server]\nport = 9090\nthreads = 2\n[filtering]\nfilters = [\"a\"]\n[ordering]\nexplore = 0.5\n"
      "[serving]\nmodel_dir = \"file\"\n",
      {{"VREC_SERVER_PORT", "7070"},
       {"VREC_CACHE_TTL", "5s"},
       {"VREC_FILTERING_FILTERS", ""},
       {"VREC_SHARED_DIR", "/data"},  // unknown VREC_ variables are not errors
       {"VREC_SERVER_PROT", "1"}});
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  ASSERT_TRUE(b.Finish().ok()) << b.Finish().ToString();
  EXPECT_EQ(c.port, 7070);         // env beats file
  EXPECT_EQ(c.threads, 2);         // file only
  EXPECT_EQ(c.cache_ttl, 5s);      // env only
  EXPECT_TRUE(c.filters.empty());  // set-but-empty env var sets the empty list
  EXPECT_EQ(b.keys()[1].origin.ToString(), "env VREC_SERVER_PORT");
}

TEST(Binder, EnvironmentValuesAreTextReadAsBefore) {
  // The file would not accept any of these spellings; the environment keeps the text syntax.
  Source src =
      FromText("[filtering]\nfilters = [\"a\"]\n", {{"VREC_CACHE_ENABLED", "no"},
                                                    {"VREC_CACHE_TTL", "2m"},
                                                    {"VREC_FILTERING_FILTERS", "blocked, region ,, age"},
                                                    {"VREC_FILTERING_WATCHED", "never"},
                                                    {"VREC_ORDERING_EXPLORE", "3e-1"},
                                                    {"VREC_SERVER_THREADS", "+8"},
                                                    {"VREC_SERVING_MODEL_DIR", "\"quoted\""}});
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  ASSERT_TRUE(b.Finish().ok()) << b.Finish().ToString();
  EXPECT_FALSE(c.cache_enabled);
  EXPECT_EQ(c.cache_ttl, 2min);
  EXPECT_EQ(c.filters, (std::vector<std::string>{"blocked", "region", "age"}));
  EXPECT_EQ(c.watched, Watched::kNever);
  EXPECT_EQ(c.explore, 0.3);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.model_dir, "\"quoted\"");  // as is: quotes are not syntax in a variable
}

TEST(Binder, FileValuesOfTheWrongTypeNameKeyExpectedAndGiven) {
  Source src = FromText(
      "log_level = 3\n"                   // 1
      "[server]\n"                        // 2
      "port = \"8080\"\n"                 // 3
      "threads = 4.0\n"                   // 4
      "[ordering]\n"                      // 5
      "explore = \"0.5\"\n"               // 6
      "[cache]\n"                         // 7
      "enabled = \"yes\"\n"               // 8
      "ttl = 30\n"                        // 9
      "[serving]\n"                       // 10
      "model_dir = [\"a\"]\n"             // 11
      "[filtering]\n"                     // 12
      "filters = \"watched, blocked\"\n"  // 13
      "watched = 1\n"                     // 14
      "[ranking]\n"                       // 15
      "top_k = { value = 3 }\n"           // 16
      "[retrieval]\n"                     // 17
      "candidates = 1979-05-27\n");       // 18
  TestConfig c;
  EXPECT_EQ(
      BindAllProblems(src, c),
      (std::vector<std::string>{
          "vrec.toml:1: log_level: expected a string, got an integer 3",
          "vrec.toml:3: server.port: expected an integer, got a string \"8080\"",
          "vrec.toml:4: server.threads: expected an integer, got a float 4.0",
          "vrec.toml:6: ordering.explore: expected a number, got a string \"0.5\"",
          "vrec.toml:8: cache.enabled: expected a boolean (true or false), got a string \"yes\"",
          "vrec.toml:9: cache.ttl: expected a duration string such as \"250ms\" or \"5s\", got an integer "
          "30 (durations are strings with a unit, e.g. \"30s\")",
          "vrec.toml:11: serving.model_dir: expected a string, got an array [\"a\"]",
          "vrec.toml:13: filtering.filters: expected an array of strings, got a string \"watched, blocked\" "
          "(lists are arrays: [\"watched\", \"blocked\"])",
          "vrec.toml:14: filtering.watched: expected a string, got an integer 1 (one of: any, finished, "
          "never)",
          // An inline table flattens: ranking.top_k itself is not set, ranking.top_k.value is unknown.
          "vrec.toml:18: retrieval.candidates: expected an integer, got a date-time 1979-05-27",
          "vrec.toml:16: unknown key 'ranking.top_k.value' ('ranking.top_k' is a setting, not a table)",
      }));
  ExpectDefaults(c);
}

TEST(Binder, IntegersAreNumbersAndZeroIsADuration) {
  Source src = FromText("[ordering]\nexplore = 1\n[cache]\nttl = 0\n");
  TestConfig c;
  Binder b(src);
  b.Double("ordering.explore", &c.explore, {.min = 0, .max = 1});
  b.Duration("cache.ttl", &c.cache_ttl);
  ASSERT_TRUE(b.Finish().ok()) << b.Finish().ToString();
  EXPECT_EQ(c.explore, 1.0);
  EXPECT_EQ(c.cache_ttl, 0ms);
}

TEST(Binder, BadValuesAreReportedWithTheirOriginAndKeepDefaults) {
  Source src = FromText(
      "[server]\nport = 70000\nthreads = 70000\n"
      "[ordering]\nexplore = 1.5\n"
      "[cache]\nenabled = \"maybe\"\nttl = \"500ms\"\n"
      "[filtering]\nwatched = \"Finished\"\n",
      {{"VREC_RETRIEVAL_CANDIDATES", "lots"}});
  TestConfig c;
  EXPECT_EQ(
      BindAllProblems(src, c),
      (std::vector<std::string>{
          "vrec.toml:2: server.port: 70000 is above the maximum 65535",
          "vrec.toml:3: server.threads: 70000 is out of range for this setting [0, 65535]",
          "vrec.toml:5: ordering.explore: 1.5 is above the maximum 1",
          "vrec.toml:7: cache.enabled: expected a boolean (true or false), got a string \"maybe\"",
          "vrec.toml:8: cache.ttl: 500ms is below the minimum 1s",
          "vrec.toml:10: filtering.watched: 'Finished' is not one of: any, finished, never (did you mean "
          "'finished'?)",
          "env VREC_RETRIEVAL_CANDIDATES: retrieval.candidates: 'lots' is not an integer",
      }));
  ExpectDefaults(c);
}

TEST(Binder, IntRangeIsInclusiveAndChecksTheFieldType) {
  Source src = FromText("a = 1\nb = 65535\nc = 0\nd = -1\ne = 2147483648\nf = 1.5\n");
  int a = 0, b_value = 0, c = 5, e = 0, f = 0;
  uint32_t d = 3;
  Binder b(src);
  b.Int("a", &a, {.min = 1, .max = 65535});
  b.Int("b", &b_value, {.min = 1, .max = 65535});
  b.Int("c", &c, {.min = 1});
  b.Int("d", &d);
  b.Int("e", &e);
  b.Int("f", &f);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b_value, 65535);
  EXPECT_EQ(c, 5);
  EXPECT_EQ(d, 3u);
  EXPECT_EQ(ProblemTexts(b), (std::vector<std::string>{
                                 "vrec.toml:3: c: 0 is below the minimum 1",
                                 "vrec.toml:4: d: -1 is out of range for this setting [0, 4294967295]",
                                 "vrec.toml:5: e: 2147483648 is out of range for this setting [-2147483648, "
                                 "2147483647]",
                                 "vrec.toml:6: f: expected an integer, got a float 1.5",
                             }));
}

TEST(Binder, DoubleRejectsNonNumbersAndHonoursBounds) {
  Source src = FromText("a = nan\nb = -0.5\nc = 0\nd = 1e-3\n");
  double a = 1, b_value = 1, c = 1, d = 1;
  Binder b(src);
  b.Double("a", &a);
  b.Double("b", &b_value, {.min = 0});
  b.Double("c", &c, {.min = 0, .max = 1});
  b.Double("d", &d, {.max = 1});
  EXPECT_EQ(c, 0.0);
  EXPECT_EQ(d, 1e-3);
  EXPECT_EQ(ProblemTexts(b),
            (std::vector<std::string>{"vrec.toml:1: a: expected a finite number, got a float nan",
                                      "vrec.toml:2: b: -0.5 is below the minimum 0"}));
}

TEST(Binder, IntListsReadArraysAndCommaSeparatedVariablesWithBoundsPerItem) {
  Source src = FromText("a = [3, 8]\nb = []\nc = [1, 1001]\nd = [1, \"2\"]\ne = 4\nf = [3000000000]\n",
                        {{"VREC_G", "5, 6,7"}, {"VREC_H", "5,x"}});
  std::vector<int> a, b_value = {1}, c = {9}, d = {9}, e = {9}, f = {9}, g, h = {9}, unset = {2, 4};
  Binder b(src);
  b.IntList("a", &a, {.min = 1, .max = 1000});
  b.IntList("b", &b_value);
  b.IntList("c", &c, {.min = 1, .max = 1000});
  b.IntList("d", &d);
  b.IntList("e", &e);
  b.IntList("f", &f);
  b.IntList("g", &g);
  b.IntList("h", &h);
  b.IntList("unset", &unset);
  EXPECT_EQ(a, (std::vector<int>{3, 8}));
  EXPECT_TRUE(b_value.empty());
  EXPECT_EQ(g, (std::vector<int>{5, 6, 7}));
  EXPECT_EQ(unset, (std::vector<int>{2, 4}));
  for (const std::vector<int>* kept : {&c, &d, &e, &f, &h}) EXPECT_EQ(*kept, std::vector<int>{9});
  EXPECT_EQ(ProblemTexts(b),
            (std::vector<std::string>{
                "vrec.toml:3: c: 1001 is outside [1, 1000]",
                "vrec.toml:4: d: expected an array of integers, got a string \"2\" as item 2",
                "vrec.toml:5: e: expected an array of integers, got an integer 4",
                "vrec.toml:6: f: 3000000000 is outside [-2147483648, 2147483647]",
                "env VREC_H: h: 'x' is not an integer",
            }));
  EXPECT_NE(b.Describe().find("unset = [2, 4]"), std::string::npos) << b.Describe();
}

TEST(Binder, DurationsConvertToTheFieldsUnit) {
  Source src = FromText(
      "ms = \"2m\"\nsec = \"1500ms\"\nsec_ok = \"3m\"\nsmall = \"1d\"\nmin_ok = \"2h\"\nzero = \"0\"\n"
      "bad = \"10\"\nmax = \"25h\"\n");
  std::chrono::milliseconds ms{0};
  std::chrono::seconds sec{7}, sec_ok{0};
  std::chrono::duration<int16_t> small{1};  // seconds in 16 bits: at most ~9h
  std::chrono::minutes min_ok{0};
  std::chrono::microseconds zero{5}, bad{5};
  std::chrono::milliseconds max{1};
  Binder b(src);
  b.Duration("ms", &ms);
  b.Duration("sec", &sec);
  b.Duration("sec_ok", &sec_ok);
  b.Duration("small", &small);
  b.Duration("min_ok", &min_ok);
  b.Duration("zero", &zero);
  b.Duration("bad", &bad);
  b.Duration("max", &max, {.max = 24h});
  EXPECT_EQ(ms, 120s);
  EXPECT_EQ(sec, 7s);  // unchanged
  EXPECT_EQ(sec_ok, 180s);
  EXPECT_EQ(small.count(), 1);
  EXPECT_EQ(min_ok, 120min);
  EXPECT_EQ(zero.count(), 0);
  EXPECT_EQ(bad.count(), 5);
  std::vector<std::string> problems = ProblemTexts(b);
  ASSERT_EQ(problems.size(), 4u) << testing::PrintToString(problems);
  EXPECT_EQ(problems[0], "vrec.toml:2: sec: 1s500ms is not a multiple of 1s, the unit of this setting");
  EXPECT_EQ(problems[1], "vrec.toml:4: small: 1d is too long for this setting");
  EXPECT_EQ(problems[2].substr(0, 42), "vrec.toml:7: bad: '10' is not a duration (");
  EXPECT_EQ(problems[3], "vrec.toml:8: max: 1d1h is above the maximum 1d");
}

TEST(Binder, UnknownKeysGetSuggestions) {
  Source src = FromText(
      "CACHE.ENABLED = false\n"       // letter case
      "[server]\nprot = 1\n"          // swap: server.port
      "[sever]\nthreads = 2\n"        // section typo: server.threads
      "[serving]\nport = 3\n"         // wrong section: server.port
      "[cache]\nttl_ms = 4\n"         // close to cache.ttl
      "[totally]\nunrelated = 5\n");  // no suggestion
  TestConfig c;
  EXPECT_EQ(BindAllProblems(src, c),
            (std::vector<std::string>{
                "vrec.toml:1: unknown key 'CACHE.ENABLED' (did you mean 'cache.enabled'?)",
                "vrec.toml:3: unknown key 'server.prot' (did you mean 'server.port'?)",
                "vrec.toml:5: unknown key 'sever.threads' (did you mean 'server.threads'?)",
                "vrec.toml:7: unknown key 'serving.port' (did you mean 'server.port'?)",
                "vrec.toml:9: unknown key 'cache.ttl_ms' (did you mean 'cache.ttl'?)",
                "vrec.toml:11: unknown key 'totally.unrelated'",
            }));
}

TEST(Binder, SuggestsTheOnlyKeyWithTheSameNameInAnotherSection) {
  Source src = FromText("[http]\nmodel_dir = \"x\"\n");
  TestConfig c;
  EXPECT_EQ(BindAllProblems(src, c),
            (std::vector<std::string>{
                "vrec.toml:2: unknown key 'http.model_dir' (did you mean 'serving.model_dir'?)"}));
}

TEST(Binder, FinishReportsEveryProblemAtOnce) {
  Source src = FromText(
      "[server]\n"
      "port = 0\n"
      "threads = \"4\"\n"
      "[ranking]\n"
      "top_k = 900\n"
      "[cache]\n"
      "tll = \"5s\"\n",
      {{"VREC_ORDERING_EXPLORE", "high"}});
  src.LoadString("[cache]\nttl = \"1m\"\n[serving]\nmodel_dir = \"x\"\n", "override.toml");
  src.LoadString("[server]\nport = 1\n", "local.toml");  // a key the first file set
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  Status s = b.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "6 configuration problems:\n"
            "local.toml:2: duplicate key 'server.port' (first set at vrec.toml:2)\n"
            "vrec.toml:2: server.port: 0 is below the minimum 1\n"
            "vrec.toml:3: server.threads: expected an integer, got a string \"4\"\n"
            "env VREC_ORDERING_EXPLORE: ordering.explore: 'high' is not a finite number\n"
            "vrec.toml:5: ranking.top_k: must not exceed retrieval.candidates\n"
            "vrec.toml:7: unknown key 'cache.tll' (did you mean 'cache.ttl'?)");
  EXPECT_EQ(c.cache_ttl, 1min);  // valid values of every file are applied (and must not be used)
}

TEST(Binder, SyntaxErrorFailsFinishAndTheFileSetsNothing) {
  Source src = FromText("[server]\nport = 9000\naddress = 127.0.0.1\n");
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  Status s = b.Finish();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.message().starts_with("1 configuration problem:\nvrec.toml:3:16: ")) << s.message();
  EXPECT_EQ(c.port, TestConfig{}.port);  // the valid line before the error is not applied either
}

TEST(Binder, OneProblemHasASingularHeader) {
  Source src = FromText("[server]\nport = \"x\"\n");
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  EXPECT_EQ(b.Finish().message(),
            "1 configuration problem:\nvrec.toml:2: server.port: expected an integer, got a string \"x\"");
}

TEST(Binder, ValidValuesAreAppliedEvenWhenFinishFails) {
  // Documented behaviour: the struct is partially filled and must not be used after a failure.
  Source src = FromText("[server]\nport = 9000\nthreads = \"none\"\n");
  TestConfig c;
  Binder b(src);
  BindAll(b, &c);
  EXPECT_FALSE(b.Finish().ok());
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.threads, 4);
}

TEST(Binder, CheckUsesTheOriginOfItsKeyAndSkipsKeysWithBadValues) {
  {
    Source src = FromText("[retrieval]\ncandidates = 10\n");  // top_k keeps its default 50
    TestConfig c;
    Binder b(src);
    BindAll(b, &c);
    EXPECT_EQ(ProblemTexts(b),
              (std::vector<std::string>{"default: ranking.top_k: must not exceed retrieval.candidates"}));
  }
  {
    Source src = FromText("[ranking]\ntop_k = -3\n[retrieval]\ncandidates = 10\n");
    TestConfig c;
    Binder b(src);
    BindAll(b, &c);
    EXPECT_EQ(ProblemTexts(b),
              (std::vector<std::string>{"vrec.toml:2: ranking.top_k: -3 is below the minimum 1"}));
  }
  {
    Source src = FromText("");
    Binder b(src);
    int x = 3;
    b.Int("x", &x);
    EXPECT_TRUE(b.Check(x == 3, "x", "unused"));
    EXPECT_FALSE(b.Check(x > 5, "x", "must exceed 5"));
    EXPECT_FALSE(b.Check(x > 9, "x", "must exceed 9"));  // several rules about one key all count
    EXPECT_EQ(ProblemTexts(b),
              (std::vector<std::string>{"default: x: must exceed 5", "default: x: must exceed 9"}));
  }
}

TEST(Binder, PrefixReturnsAndConsumesDynamicKeys) {
  Source src = FromText(
      "[experiment]\nname = \"ab\"\n"
      "[experiment.variant.a]\nweight = 0.5\n"
      "[experiment.variant.b]\nweight = \"lots\"\nranker = \"xgb-v2\"\n"
      "[experimental]\nx = 1\n",
      {{"VREC_EXPERIMENT_VARIANT_A_WEIGHT", "0.9"}});
  Binder b(src);
  std::string name;
  b.String("experiment.name", &name);
  std::vector<Entry> variants = b.Prefix("experiment.variant", {.help = "Traffic split per variant."});
  ASSERT_EQ(variants.size(), 3u);
  EXPECT_EQ(variants[0].key, "experiment.variant.a.weight");
  EXPECT_EQ(variants[0].value, Value::Float(0.5));  // the environment does not reach prefix keys
  EXPECT_EQ(variants[2].key, "experiment.variant.b.ranker");
  EXPECT_EQ(variants[2].value, Value::String("xgb-v2"));
  for (const Entry& e : variants) {
    if (e.key.ends_with(".weight") && !AsDouble(e.value).ok()) {
      b.Fail(e.origin, e.key, AsDouble(e.value).status().message());
    }
  }
  EXPECT_EQ(ProblemTexts(b),
            (std::vector<std::string>{
                "vrec.toml:6: experiment.variant.b.weight: expected a number, got a string \"lots\"",
                "vrec.toml:9: unknown key 'experimental.x'",  // a prefix is whole parts
            }));
  EXPECT_TRUE(b.keys().back().is_prefix);
  EXPECT_EQ(b.keys().back().key, "experiment.variant.");
}

TEST(Binder, SubsectionsAllowTypedBindingOfDynamicSections) {
  Source src = FromText(
      "[experiment.variant.control]\nweight = 0.5\n"
      "[experiment.variant.treatment]\nweight = 0.5\nranker = \"xgb-v2\"\nbogus = 1\n",
      {{"VREC_EXPERIMENT_VARIANT_TREATMENT_WEIGHT", "0.25"}});
  Binder b(src);
  std::vector<std::string> names = b.Subsections("experiment.variant");
  ASSERT_EQ(names, (std::vector<std::string>{"control", "treatment"}));
  std::map<std::string, double> weights;
  std::map<std::string, std::string> rankers;
  for (const std::string& n : names) {
    weights[n] = 1.0;
    rankers[n] = "default";
    b.Double(StrCat("experiment.variant.", n, ".weight"), &weights[n], {.min = 0, .max = 1});
    b.String(StrCat("experiment.variant.", n, ".ranker"), &rankers[n]);
  }
  EXPECT_EQ(weights["control"], 0.5);
  EXPECT_EQ(weights["treatment"], 0.25);  // dynamic keys declared this way do get env bindings
  EXPECT_EQ(rankers["control"], "default");
  EXPECT_EQ(rankers["treatment"], "xgb-v2");
  EXPECT_EQ(ProblemTexts(b),
            (std::vector<std::string>{"vrec.toml:6: unknown key 'experiment.variant.treatment.bogus'"}));
}

TEST(Binder, ReportsBindingMistakes) {
  Source src = FromText("a.b_c = 1\n", {{"VREC_A_B_C", "2"}});
  Binder b(src);
  int x = 0, y = 0, z = 0, w = 0;
  b.Int("a.b_c", &x);
  b.Int("a_b.c", &y);  // same environment variable
  b.Int("a.b_c", &z);  // twice
  b.Int("Upper.case", &w);
  b.Int("a..b", &w);
  b.Prefix("bad prefix");
  EXPECT_EQ(x, 2);
  EXPECT_EQ(y, 0);
  EXPECT_EQ(
      ProblemTexts(b),
      (std::vector<std::string>{
          "default: a_b.c: environment variable VREC_A_B_C would also set 'a.b_c'; rename one of the keys",
          "default: a.b_c: bound more than once",
          "default: Upper.case: invalid key name for binding (use lower-case letters, digits and '_' in "
          "dot-separated parts)",
          "default: a..b: invalid key name for binding (use lower-case letters, digits and '_' in "
          "dot-separated parts)",
          "default: bad prefix.: invalid key name for binding (use lower-case letters, digits and '_' in "
          "dot-separated parts)",
      }));
}

TEST(Binder, DescribeDocumentsEveryKeyAndReadsBackAsTheDefaults) {
  TestConfig c;
  c.model_dir = "dir # with hash, \"quotes\", a backslash \\ and a\nnewline";
  c.filters = {"with, comma", "", "\xC3\xA9"};  // not expressible comma-separated: arrays are exact
  c.explore = 1e-7;
  Source empty = FromText("");
  Binder b(empty);
  BindAll(b, &c);
  b.Prefix("experiment.variant", {.help = "Per-variant settings."});
  std::string text = b.Describe();

  EXPECT_EQ(text.substr(0, 65), "# Log level.\n# string; env VREC_LOG_LEVEL\nlog_level = \"info\"\n\n[se");
  EXPECT_NE(text.find("[server]\n# TCP port.\n# integer in [1, 65535]; env VREC_SERVER_PORT\nport = 8080\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("# Time to live\n# of a cached response.\n# duration such as \"250ms\", \"5s\", \"2m\", "
                "\"1h\", \"3d\" in [1s, 1d]; env VREC_CACHE_TTL\nttl = \"30s\"\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("# string, one of: any, finished, never; env VREC_FILTERING_WATCHED\nwatched = \"any\"\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("# array of strings (env: comma-separated); env VREC_FILTERING_FILTERS\n"
                      "filters = [\"with, comma\", \"\", \"\xC3\xA9\"]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("explore = 1e-07\n"), std::string::npos) << text;
  EXPECT_NE(text.find("enabled = true\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# [experiment.variant.*]\n# Per-variant settings.\n"), std::string::npos) << text;
  for (const KeyInfo& info : b.keys()) {
    if (!info.is_prefix) {
      EXPECT_NE(text.find(info.env_var), std::string::npos) << info.key;
    }
  }

  // Written out and read back, the description sets every key to its default, with no problem.
  Source described;
  described.LoadString(text, "described.toml");
  TestConfig back;
  back.port = 1;
  back.threads = 1;
  back.explore = 0.9;
  back.cache_enabled = false;
  back.model_dir = "";
  back.filters = {};
  back.cache_ttl = 1s;
  back.watched = Watched::kNever;
  back.log_level = "x";
  Binder rb(described);
  BindAll(rb, &back);
  ASSERT_TRUE(rb.Finish().ok()) << rb.Finish().ToString() << "\n" << text;
  EXPECT_EQ(back.port, c.port);
  EXPECT_EQ(back.threads, c.threads);
  EXPECT_EQ(back.explore, c.explore);
  EXPECT_EQ(back.cache_enabled, c.cache_enabled);
  EXPECT_EQ(back.model_dir, c.model_dir);
  EXPECT_EQ(back.filters, c.filters);
  EXPECT_EQ(back.cache_ttl, c.cache_ttl);
  EXPECT_EQ(back.watched, c.watched);
  EXPECT_EQ(back.log_level, c.log_level);
  for (const KeyInfo& info : rb.keys()) EXPECT_EQ(info.origin.kind, Origin::Kind::kFile) << info.key;
}

TEST(Binder, DescribeCommentsOutAnEnumWithoutANamedDefault) {
  Source src = FromText("");
  Binder b(src);
  Watched w = static_cast<Watched>(42);
  b.Enum("mode", &w, {{"any", Watched::kAny}});
  EXPECT_EQ(b.Describe(), "# string, one of: any; env VREC_MODE\n# mode =\n\n");
}

TEST(Binder, SourceProblemsAloneFailFinish) {
  Source src = FromText("[server\n");
  Binder b(src);
  const Status s = b.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      s.message().starts_with("1 configuration problem:\nvrec.toml:1:8: Error while parsing table header"))
      << s.message();
}

TEST(EnvVarName, UpperCasesAndReplacesSeparators) {
  EXPECT_EQ(EnvVarName("server.port"), "VREC_SERVER_PORT");
  EXPECT_EQ(EnvVarName("a.b_c"), "VREC_A_B_C");
  EXPECT_EQ(EnvVarName("experiment.variant.b2.weight"), "VREC_EXPERIMENT_VARIANT_B2_WEIGHT");
}

}  // namespace
}  // namespace vrec::config
