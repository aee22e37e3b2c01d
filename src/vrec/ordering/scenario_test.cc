// Runs the ordering scenarios in testdata/*.scenario (format: filtering/scenario_testing.h).
// Case lines:
//   candidates VIDEO:SCORE...       the ranker's output (any order)
//   count N                         list length (default 10)
//   option KEY=VALUE...             ordering.* keys, through ApplyOrderingOverride
//   promo VIDEO|id=ID POSITION      a promotional slot (id=: an external id, maybe not in the catalog)
//   blocked VIDEO                   the filters reject this video (the promo predicate says no)
// Expectations (each case needs one):
//   expect VIDEO...                 the final list; a promoted video is written VIDEO*
//   scores VIDEO=SCORE...           final scores, to 1e-4 relative
//   invalid TEXT...                 Validate(options) fails and its message contains TEXT
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/filtering/scenario_testing.h"
#include "vrec/ordering/experiment.h"
#include "vrec/ordering/ordering.h"

namespace vrec::ordering {
namespace {

using filtering::testing::Case;
using filtering::testing::Line;
using filtering::testing::Scenario;
namespace st = filtering::testing;

struct OrderCase {
  std::vector<Candidate> candidates;
  int count = 10;
  OrderingOptions options;
  std::set<uint32_t> blocked;
  std::vector<Line> checks;
};

Status ReadLine(const Scenario& s, const Line& line, OrderCase& oc) {
  const std::vector<std::string>& w = line.words;
  const std::string& head = w[0];
  if (head == "candidates") {
    for (size_t i = 1; i < w.size(); ++i) {
      const size_t colon = w[i].rfind(':');
      if (colon == std::string::npos) return line.Error(StrCat("expected VIDEO:SCORE, got '", w[i], "'"));
      VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, std::string_view(w[i]).substr(0, colon)));
      VREC_ASSIGN_OR_RETURN(double score, st::ParseDouble(line, std::string_view(w[i]).substr(colon + 1)));
      oc.candidates.push_back({video, static_cast<float>(score)});
    }
  } else if (head == "count") {
    if (w.size() != 2) return line.Error("count N");
    VREC_ASSIGN_OR_RETURN(int64_t n, st::ParseInt(line, w[1]));
    oc.count = static_cast<int>(n);
  } else if (head == "option") {
    for (size_t i = 1; i < w.size(); ++i) {
      VREC_ASSIGN_OR_RETURN(auto kv, st::SplitKeyValue(line, w[i]));
      if (Status status = ApplyOrderingOverride(kv.first, kv.second, oc.options); !status.ok()) {
        return line.Error(status.message());
      }
    }
  } else if (head == "promo") {
    if (w.size() != 3) return line.Error("promo VIDEO|id=ID POSITION");
    PromoSlot slot;
    if (w[1].starts_with("id=")) {
      VREC_ASSIGN_OR_RETURN(int64_t id, st::ParseInt(line, std::string_view(w[1]).substr(3)));
      slot.video = VideoId{static_cast<uint64_t>(id)};
    } else {
      VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, w[1]));
      slot.video = s.catalog.videos[video].id;
    }
    VREC_ASSIGN_OR_RETURN(int64_t position, st::ParseInt(line, w[2]));
    slot.position = static_cast<int>(position);
    oc.options.promos.push_back(slot);
  } else if (head == "blocked") {
    for (size_t i = 1; i < w.size(); ++i) {
      VREC_ASSIGN_OR_RETURN(uint32_t video, s.Video(line, w[i]));
      oc.blocked.insert(video);
    }
  } else if (head == "expect" || head == "scores" || head == "invalid") {
    oc.checks.push_back(line);
  } else {
    return line.Error(StrCat("unknown directive '", head, "'"));
  }
  return OkStatus();
}

void RunCase(const Scenario& s, const Case& c, std::vector<std::string>& failures) {
  const std::string where = StrCat(c.header.Where(), ": case '", c.name, "'");
  OrderCase oc;
  for (const std::vector<Line>* lines : {&c.defaults, &c.lines}) {
    for (const Line& line : *lines) {
      if (Status status = ReadLine(s, line, oc); !status.ok()) {
        failures.push_back(status.message());
        return;
      }
    }
  }
  if (oc.checks.empty()) {
    failures.push_back(StrCat(where, ": no expectation (expect, scores or invalid)"));
    return;
  }
  const Status valid = Validate(oc.options);
  std::vector<OrderedItem> result;
  if (valid.ok()) {
    result = Order(oc.candidates, oc.count, s.catalog, s.now, oc.options,
                   [&oc](uint32_t video) { return !oc.blocked.contains(video); });
  }
  std::vector<std::string> got_names;
  for (const OrderedItem& item : result) {
    got_names.push_back(s.NameOf(item.video) + (item.reason == OrderedItem::kPromoted ? "*" : ""));
  }
  const std::string got = StrJoin(got_names, " ");

  for (const Line& check : oc.checks) {
    const std::string& head = check.words[0];
    const std::string want =
        StrJoin(std::vector<std::string>(check.words.begin() + 1, check.words.end()), " ");
    if (head == "invalid") {
      if (valid.ok() || valid.message().find(want) == std::string::npos) {
        failures.push_back(
            StrCat(check.Where(), ": expected Validate to fail with '", want, "', got ", valid.ToString()));
      }
      continue;
    }
    if (!valid.ok()) {
      failures.push_back(StrCat(check.Where(), ": ", valid.message()));
      continue;
    }
    if (head == "expect") {
      if (want != got) failures.push_back(StrCat(check.Where(), ": expected [", want, "], got [", got, "]"));
      continue;
    }
    for (size_t i = 1; i < check.words.size(); ++i) {  // scores VIDEO=SCORE...
      auto kv = st::SplitKeyValue(check, check.words[i]);
      if (!kv.ok()) {
        failures.push_back(kv.status().message());
        break;
      }
      auto video = s.Video(check, kv->first);
      auto score = st::ParseDouble(check, kv->second);
      if (!video.ok() || !score.ok()) {
        failures.push_back(!video.ok() ? video.status().message() : score.status().message());
        break;
      }
      auto it = std::find_if(result.begin(), result.end(),
                             [&](const OrderedItem& item) { return item.video == *video; });
      if (it == result.end()) {
        failures.push_back(StrCat(check.Where(), ": ", kv->first, " is not in the result [", got, "]"));
      } else if (std::abs(it->score - *score) > 1e-4 * std::max(1.0, std::abs(*score))) {
        failures.push_back(
            StrCat(check.Where(), ": expected ", kv->first, " score ", *score, ", got ", it->score));
      }
    }
  }
}

std::vector<std::string> RunScenario(const Scenario& s) {
  std::vector<std::string> failures;
  for (const Case& c : s.cases) RunCase(s, c, failures);
  return failures;
}

class OrderScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(OrderScenario, MatchesExpectations) {
  auto scenario = st::ReadScenario(GetParam());
  ASSERT_TRUE(scenario.ok()) << scenario.status().ToString();
  for (const std::string& failure : RunScenario(*scenario)) ADD_FAILURE() << failure;
}

std::vector<std::string> Files() { return st::ListScenarioFiles(VREC_ORDERING_TESTDATA, ".scenario"); }

INSTANTIATE_TEST_SUITE_P(Files, OrderScenario, ::testing::ValuesIn(Files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return st::ScenarioTestName(param.param);
                         });

TEST(OrderScenarioRunner, FindsTheScenarioFiles) { EXPECT_GE(Files().size(), 3u); }

// The runner itself must be able to fail, and say where.
TEST(OrderScenarioRunner, ReportsMismatchesWithFileAndLine) {
  auto s = st::ParseScenario(
      "video a cat=x\n"
      "video b cat=x\n"
      "case wrong on purpose\n"
      "candidates a:1 b:2\n"
      "promo a 1\n"
      "expect a b\n"
      "scores b=3\n"
      "invalid position\n",
      "bad.scenario");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> failures = RunScenario(*s);
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_EQ(failures[0], "bad.scenario:6: expected [a b], got [a* b]");
  EXPECT_EQ(failures[1], "bad.scenario:7: expected b score 3, got 2");
  EXPECT_EQ(failures[2], "bad.scenario:8: expected Validate to fail with 'position', got OK");
}

TEST(OrderScenarioRunner, RejectsCasesWithoutExpectations) {
  auto s = st::ParseScenario("video a\ncase empty\ncandidates a:1\n", "x");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::vector<std::string> failures = RunScenario(*s);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], "x:2: case 'empty': no expectation (expect, scores or invalid)");
}

}  // namespace
}  // namespace vrec::ordering
