// Runs the filtering scenarios in testdata/*.scenario (format: scenario_testing.h). Case lines:
//   user age=N | user age=unknown
//   history VIDEO EVENT [WATCH_RATIO]     EVENT: impression play like comment share skip rating
//   flag VIDEO unavailable|restricted...  admin overrides
//   surface NAME
//   onscreen VIDEO...                     videos the client already shows (the exclude list)
//   option KEY=VALUE...                   watched=any|finished finished_ratio=R adult_age=N
//                                         missing_age_is_minor=B max_age.SURFACE=DUR
//                                         default_max_age=DUR unknown_upload_fresh=B
//   candidates VIDEO...
// Expectations (each case needs one):
//   expect VIDEO...                       the candidates Apply keeps, in order
//   removed watched=N content_policy=N availability=N freshness=N on_screen=N   the report, in chain
//                                         order
//   rejected VIDEO FILTER|none            what RejectedBy says for one video
// Every case also checks that RejectedBy agrees with Apply on every candidate.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/filtering/filters.h"
#include "vrec/filtering/scenario_testing.h"

namespace vrec::filtering {
namespace {

using testing::Case;
using testing::Line;
using testing::Scenario;

struct FilterCase {
  FilterOptions options;
  int age = -1;
  std::vector<HistoryItem> history;
  std::vector<uint8_t> flags;
  std::string surface;
  std::vector<uint32_t> on_screen;  // sorted
  std::vector<Candidate> candidates;
  std::vector<Line> checks;
};

Status ApplyOption(const Line& line, std::string_view word, FilterOptions& o) {
  VREC_ASSIGN_OR_RETURN(auto kv, testing::SplitKeyValue(line, word));
  const auto& [key, value] = kv;
  if (key == "watched") {
    auto policy = ParseWatchedPolicy(value);
    if (!policy) return line.Error(StrCat("unknown watched policy '", value, "'"));
    o.watched = *policy;
  } else if (key == "finished_ratio") {
    VREC_ASSIGN_OR_RETURN(double r, testing::ParseDouble(line, value));
    o.finished_ratio = static_cast<float>(r);
  } else if (key == "adult_age") {
    VREC_ASSIGN_OR_RETURN(int64_t a, testing::ParseInt(line, value));
    o.adult_age = static_cast<int>(a);
  } else if (key == "missing_age_is_minor") {
    VREC_ASSIGN_OR_RETURN(o.missing_age_is_minor, testing::ParseBool(line, value));
  } else if (key == "unknown_upload_fresh") {
    VREC_ASSIGN_OR_RETURN(o.unknown_upload_time_is_fresh, testing::ParseBool(line, value));
  } else if (key == "default_max_age" || key.starts_with("max_age.")) {
    auto seconds = testing::ParseDuration(value);
    if (!seconds.ok()) return line.Error(seconds.status().message());
    if (key == "default_max_age") {
      o.default_max_upload_age_s = *seconds;
    } else {
      o.max_upload_age_s[key.substr(std::string_view("max_age.").size())] = *seconds;
    }
  } else {
    return line.Error(StrCat("unknown option '", key, "'"));
  }
  return OkStatus();
}

// Applies one setup line to `fc`; expectation lines are kept for later.
Status ReadLine(const Scenario& s, const Line& line, FilterCase& fc) {
  const std::vector<std::string>& w = line.words;
  const std::string& head = w[0];
  if (head == "user") {
    for (size_t i = 1; i < w.size(); ++i) {
      VREC_ASSIGN_OR_RETURN(auto kv, testing::SplitKeyValue(line, w[i]));
      if (kv.first != "age") return line.Error(StrCat("unknown user attribute '", kv.first, "'"));
      if (kv.second == "unknown") {
        fc.age = -1;
      } else {
        VREC_ASSIGN_OR_RETURN(int64_t age, testing::ParseInt(line, kv.second));
        fc.age = static_cast<int>(age);
      }
    }
  } else if (head == "history") {
    if (w.size() < 3 || w.size() > 4) return line.Error("history VIDEO EVENT [WATCH_RATIO]");
    HistoryItem item;
    VREC_ASSIGN_OR_RETURN(item.video, s.Video(line, w[1]));
    auto type = data::ParseEventType(w[2]);
    if (!type) return line.Error(StrCat("unknown event '", w[2], "'"));
    item.type = *type;
    if (w.size() == 4) {
      VREC_ASSIGN_OR_RETURN(double r, testing::ParseDouble(line, w[3]));
      item.watch_ratio = static_cast<float>(r);
    }
    fc.history.push_back(item);
  } else if (head == "flag") {
    if (w.size() < 3) return line.Error("flag VIDEO unavailable|restricted...");
    VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, w[1]));
    // Only as long as needed, to exercise the "shorter span = no flags" rule.
    if (fc.flags.size() <= video) fc.flags.resize(video + 1, 0);
    for (size_t i = 2; i < w.size(); ++i) {
      if (w[i] == "unavailable") {
        fc.flags[video] |= kFlagUnavailable;
      } else if (w[i] == "restricted") {
        fc.flags[video] |= kFlagAgeRestricted;
      } else {
        return line.Error(StrCat("unknown flag '", w[i], "'"));
      }
    }
  } else if (head == "surface") {
    if (w.size() != 2) return line.Error("surface NAME");
    fc.surface = w[1];
  } else if (head == "onscreen") {
    for (size_t i = 1; i < w.size(); ++i) {
      VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, w[i]));
      fc.on_screen.insert(std::upper_bound(fc.on_screen.begin(), fc.on_screen.end(), video), video);
    }
  } else if (head == "option") {
    for (size_t i = 1; i < w.size(); ++i) VREC_RETURN_IF_ERROR(ApplyOption(line, w[i], fc.options));
  } else if (head == "candidates") {
    for (size_t i = 1; i < w.size(); ++i) {
      VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, w[i]));
      fc.candidates.push_back({video, static_cast<float>(w.size() - i)});
    }
  } else if (head == "expect" || head == "removed" || head == "rejected") {
    fc.checks.push_back(line);
  } else {
    return line.Error(StrCat("unknown directive '", head, "'"));
  }
  return OkStatus();
}

std::string Names(const Scenario& s, const std::vector<Candidate>& candidates) {
  std::vector<std::string> names;
  for (const Candidate& c : candidates) names.push_back(s.NameOf(c.video));
  return StrJoin(names, " ");
}

std::string Tail(const std::vector<std::string>& words) {
  return StrJoin(std::vector<std::string>(words.begin() + 1, words.end()), " ");
}

// Runs one case; appends a message per mismatch or malformed line.
void RunCase(const Scenario& s, const Case& c, std::vector<std::string>& failures) {
  const std::string where = StrCat(c.header.Where(), ": case '", c.name, "'");
  FilterCase fc;
  for (const std::vector<Line>* lines : {&c.defaults, &c.lines}) {
    for (const Line& line : *lines) {
      if (Status st = ReadLine(s, line, fc); !st.ok()) {
        failures.push_back(st.message());
        return;
      }
    }
  }
  if (fc.checks.empty()) {
    failures.push_back(StrCat(where, ": no expectation (expect, removed or rejected)"));
    return;
  }
  if (Status st = Validate(fc.options); !st.ok()) {
    failures.push_back(StrCat(where, ": ", st.message()));
    return;
  }
  FilterRequest request;
  request.user.age = fc.age;
  request.user.history = fc.history;
  request.overrides.flags = fc.flags;
  request.surface = fc.surface;
  request.now = s.now;
  request.on_screen = fc.on_screen;

  std::vector<Candidate> kept = fc.candidates;
  const FilterReport report = Apply(kept, s.catalog, request, fc.options);

  // RejectedBy must tell the same story as Apply, candidate by candidate.
  FilterReport single;
  std::vector<Candidate> single_kept;
  for (const Candidate& cand : fc.candidates) {
    if (auto f = RejectedBy(cand.video, s.catalog, request, fc.options)) {
      ++single.counts[static_cast<size_t>(*f)].removed;
    } else {
      single_kept.push_back(cand);
    }
  }
  for (int i = 0; i < kNumFilters; ++i) single.counts[static_cast<size_t>(i)].filter = static_cast<Filter>(i);
  if (single_kept != kept || single.ToString() != report.ToString()) {
    failures.push_back(StrCat(where, ": RejectedBy disagrees with Apply: kept [", Names(s, single_kept),
                              "] vs [", Names(s, kept), "], ", single.ToString(), " vs ", report.ToString()));
  }
  if (report.input != static_cast<int>(fc.candidates.size()) ||
      report.kept != static_cast<int>(kept.size())) {
    failures.push_back(StrCat(where, ": report counts input=", report.input, " kept=", report.kept));
  }

  for (const Line& check : fc.checks) {
    const std::string& head = check.words[0];
    if (head == "expect") {
      const std::string want = Tail(check.words), got = Names(s, kept);
      if (want != got) failures.push_back(StrCat(check.Where(), ": expected [", want, "], got [", got, "]"));
    } else if (head == "removed") {
      const std::string want = Tail(check.words), got = report.ToString();
      if (want != got) failures.push_back(StrCat(check.Where(), ": expected removed ", want, ", got ", got));
    } else {  // rejected VIDEO FILTER|none
      if (check.words.size() != 3) {
        failures.push_back(StrCat(check.Where(), ": rejected VIDEO FILTER|none"));
        continue;
      }
      auto video = s.Video(check, check.words[1]);
      if (!video.ok()) {
        failures.push_back(video.status().message());
        continue;
      }
      const auto f = RejectedBy(*video, s.catalog, request, fc.options);
      const std::string got(f ? Name(*f) : "none");
      if (got != check.words[2]) {
        failures.push_back(StrCat(check.Where(), ": expected ", check.words[1], " rejected by ",
                                  check.words[2], ", got ", got));
      }
    }
  }
}

std::vector<std::string> RunScenario(const Scenario& s) {
  std::vector<std::string> failures;
  for (const Case& c : s.cases) RunCase(s, c, failures);
  return failures;
}

class FilterScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(FilterScenario, MatchesExpectations) {
  auto scenario = testing::ReadScenario(GetParam());
  ASSERT_TRUE(scenario.ok()) << scenario.status().ToString();
  for (const std::string& failure : RunScenario(*scenario)) ADD_FAILURE() << failure;
}

std::vector<std::string> Files() { return testing::ListScenarioFiles(VREC_FILTERING_TESTDATA, ".scenario"); }

INSTANTIATE_TEST_SUITE_P(Files, FilterScenario, ::testing::ValuesIn(Files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return testing::ScenarioTestName(param.param);
                         });

TEST(FilterScenarioRunner, FindsTheScenarioFiles) { EXPECT_GE(Files().size(), 3u); }

// The runner itself must be able to fail, and say where.
TEST(FilterScenarioRunner, ReportsMismatchesWithFileAndLine) {
  auto s = testing::ParseScenario(
      "now 1000\n"
      "video a\n"
      "video b\n"
      "case wrong on purpose\n"
      "history a play 1\n"
      "candidates a b\n"
      "expect a b\n"
      "removed watched=0 content_policy=0 availability=0 freshness=0 on_screen=0\n"
      "rejected a none\n",
      "bad.scenario");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> failures = RunScenario(*s);
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0], "bad.scenario:7: expected [a b], got [b]");
  EXPECT_EQ(failures[1],
            "bad.scenario:8: expected removed watched=0 content_policy=0 availability=0 freshness=0 on_screen=0, "
            "got watched=1 content_policy=0 availability=0 freshness=0 on_screen=0");
  EXPECT_EQ(failures[2], "bad.scenario:9: expected a rejected by none, got watched");
}

TEST(FilterScenarioRunner, RejectsCasesWithoutExpectationsAndUnknownLines) {
  auto s =
      testing::ParseScenario("video a\ncase empty\ncandidates a\ncase typo\ncandidatez a\nexpect a\n", "x");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> failures = RunScenario(*s);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0], "x:2: case 'empty': no expectation (expect, removed or rejected)");
  EXPECT_EQ(failures[1], "x:5: unknown directive 'candidatez'");
}

}  // namespace
}  // namespace vrec::filtering
