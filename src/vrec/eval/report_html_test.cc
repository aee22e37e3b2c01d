#include "vrec/eval/report_html.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace vrec::eval {
namespace {

namespace fs = std::filesystem;

EvalReport SampleReport(double ndcg) {
  EvalReport r;
  r.k = 10;
  r.users = 943;
  r.users_total = 943;
  r.map = 0.114038;
  r.ndcg = ndcg;
  r.precision = 0.340615;
  r.recall = 0.185377;
  r.recall_at = {{100, 0.557832}, {500, 0.913439}};
  r.auc = 0.901785;
  r.coverage = 0.131986;
  r.diversity = 0.815071;
  r.recall_curve = {{1, 0.031}, {10, 0.185377}, {100, 0.557832}, {500, 0.913439}};
  r.by_activity = {{.min_rows = 8, .max_rows = 15, .users = 120, .ndcg = 0.2125, .recall = 0.3},
                   {.min_rows = 16, .max_rows = 31, .users = 300, .ndcg = 0.3333, .recall = 0.25}};
  r.popularity = {.recommended_percentile = 91.25,
                  .test_percentile = 77.5,
                  .recommended_head_share = 0.625,
                  .test_head_share = 0.375,
                  .gini = 0.875};
  return r;
}

// Checks that every element opened is closed, in order (void elements and "/>" excepted, the
// stylesheet skipped). Returns the first problem, empty when none.
std::string CheckTagBalance(const std::string& html) {
  static const std::set<std::string> kVoid = {"meta", "link", "br", "img", "hr", "input"};
  std::vector<std::string> open;
  for (size_t i = 0; (i = html.find('<', i)) != std::string::npos;) {
    const size_t end = html.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    const std::string tag = html.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.starts_with("!")) continue;
    if (tag.starts_with("/")) {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
      }
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (kVoid.contains(name) || tag.ends_with("/")) continue;
    open.push_back(name);
    if (name == "style") {
      const size_t close = html.find("</style>", i);
      if (close == std::string::npos) return "unterminated <style>";
      i = close;
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t i = 0; (i = haystack.find(needle, i)) != std::string::npos; i += needle.size()) ++n;
  return n;
}

TEST(HtmlEscape, EscapesMarkupAndReplacesInvalidUtf8) {
  EXPECT_EQ(HtmlEscape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("caf\xe9"), "caf\xef\xbf\xbd");
  EXPECT_EQ(HtmlEscape("plain \xc3\xa9t\xc3\xa9"), "plain \xc3\xa9t\xc3\xa9");
}

TEST(HtmlReport, IsOneWellFormedDocumentWithEverySectionAndNoExternalResource) {
  const ReportModel models[] = {{"sar", SampleReport(0.393819)}, {"ease", SampleReport(0.482853)}};
  const ReportGate gates[] = {{"two_stage_ndcg@10 >= 0.3", 0.489, 0.3, true},
                              {"ranker_heldout_auc >= 0.6", 0.55, 0.6, false}};
  ReportMeta meta;
  meta.dataset = "movielens /data/ml-100k";
  meta.split = "stratified";
  meta.generated_at = "2026-12-01T10:00:00Z";
  meta.vrec_version = "1.2.3";
  const std::string html = RenderHtmlReport(meta, models, gates);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
  EXPECT_EQ(CheckTagBalance(html), "");
  for (const char* id : {"run", "gates", "metrics", "recall-curve", "ndcg-by-activity", "popularity"}) {
    EXPECT_EQ(Count(html, "id=\"" + std::string(id) + "\""), 1u) << id;
  }
  // Three plots, each with a title, axes labels and a legend naming every model.
  EXPECT_EQ(Count(html, "<svg "), 3u);
  EXPECT_EQ(Count(html, "class=\"legend\""), 3u);
  EXPECT_EQ(Count(html, "class=\"label\""), 6u);
  EXPECT_NE(html.find("K: length of the recommended list (log scale)"), std::string::npos);
  EXPECT_NE(html.find(">mean nDCG@10</text>"), std::string::npos);
  EXPECT_EQ(Count(html, "<polyline "), 2u);  // one recall curve per model
  // Nothing to fetch, nothing to run.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST(HtmlReport, ShowsTheFiguresAndTheGateVerdicts) {
  const ReportModel models[] = {{"sar", SampleReport(0.393819)}, {"ease", SampleReport(0.482853)}};
  const ReportGate gates[] = {{"two_stage_ndcg@10 >= 0.3", 0.489, 0.3, true},
                              {"ranker_heldout_auc >= 0.6", 0.55, 0.6, false},
                              {"retrieval_recall@100 >= 0.1 (missing)", std::nan(""), 0.1, false}};
  const std::string html = RenderHtmlReport({}, models, gates);
  for (const char* shown :
       {// The metrics table, the best nDCG in bold.
        "<td class=\"num\">0.3938</td>", "<td class=\"num best\">0.4829</td>", "<th>Recall@500</th>",
        "0.9134",
        // The recall curve's points, buckets and popularity figures (recommended and held-out
        // percentiles, Gini).
        "ease: recall@100 = 0.5578", "8\u201315", "120 users", "0.2125", "91.25", "77.50", "0.8750",
        // Gates: escaped names, a missing figure said so, the summary.
        "two_stage_ndcg@10 &gt;= 0.3", "<td class=\"num\">missing</td>", "2 of 3 gates failed"}) {
    EXPECT_NE(html.find(shown), std::string::npos) << shown;
  }
  EXPECT_EQ(html.find("two_stage_ndcg@10 >= 0.3"), std::string::npos);
  EXPECT_EQ(Count(html, "<tr class=\"pass\">"), 1u);
  EXPECT_EQ(Count(html, "<tr class=\"fail\">"), 2u);
}

TEST(HtmlReport, EscapesEveryStringFromTheData) {
  EvalReport r = SampleReport(0.4);
  const ReportModel models[] = {{"<script>alert(1)</script>", r}};
  ReportMeta meta;
  meta.title = "a & b";
  meta.dataset = "movielens /tmp/\"quoted\" <dir>";
  meta.extra = {{"run <id>", "x'y"}};
  const std::string html = RenderHtmlReport(meta, models);
  for (const char* raw : {"<script", "<dir>", "a & b"}) EXPECT_EQ(html.find(raw), std::string::npos) << raw;
  for (const char* escaped :
       {"&lt;script&gt;alert(1)&lt;/script&gt;", "movielens /tmp/&quot;quoted&quot; &lt;dir&gt;",
        "<title>a &amp; b</title>", "run &lt;id&gt;", "x&#39;y"}) {
    EXPECT_NE(html.find(escaped), std::string::npos) << escaped;
  }
  EXPECT_EQ(CheckTagBalance(html), "");
  // No gates given: no gates section.
  EXPECT_EQ(html.find("id=\"gates\""), std::string::npos);
}

TEST(HtmlReport, NonFiniteFiguresShowAsNotAvailableAndStayOutOfThePlots) {
  EvalReport r = SampleReport(std::numeric_limits<double>::quiet_NaN());
  r.recall_curve[1].second = std::numeric_limits<double>::infinity();
  const ReportModel models[] = {{"m", r}};
  const std::string html = RenderHtmlReport({}, models);
  EXPECT_NE(html.find("<td class=\"num\">n/a</td>"), std::string::npos);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf"), std::string::npos);
  EXPECT_EQ(Count(html, "<circle "), 3u);  // 4 curve points, one infinite
  EXPECT_EQ(CheckTagBalance(html), "");
}

TEST(HtmlReport, RendersWithoutModels) {
  const std::string html = RenderHtmlReport({}, {});
  EXPECT_EQ(CheckTagBalance(html), "");
  EXPECT_NE(html.find("No recall curve was measured."), std::string::npos);
}

TEST(WriteHtmlReport, ReplacesTheFileWholeAndRefusesAMissingFolder) {
  const fs::path dir = fs::temp_directory_path() / ("vrec_report_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "report.html").string();
  ASSERT_TRUE(WriteHtmlReport(path, "<!DOCTYPE html>old").ok());
  ASSERT_TRUE(WriteHtmlReport(path, "<!DOCTYPE html>new").ok());
  std::ifstream in(path);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "<!DOCTYPE html>new");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  const std::string missing = (dir / "nope" / "report.html").string();
  const Status s = WriteHtmlReport(missing, "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("folder " + (dir / "nope").string() + " does not exist"), std::string::npos)
      << s.message();
  EXPECT_EQ(CheckReportPath(dir.string()).code(), StatusCode::kInvalidArgument);  // a folder, not a file
  EXPECT_TRUE(CheckReportPath("report.html").ok());                               // the working folder
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vrec::eval
