#include "vrec/eval/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "vrec/common/durable_file.h"
#include "vrec/common/strings.h"

namespace vrec::eval {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Okabe-Ito: told apart with the common colour-vision deficiencies.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                    "#D55E00", "#56B4E9", "#000000"};
constexpr const char* kReferenceColour = "#9a9a9a";

const char* Colour(size_t i) { return kPalette[i % std::size(kPalette)]; }

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// An SVG coordinate.
std::string Px(double v) { return Fixed(v, 1); }

// Every chart's canvas (SVG user units) and plot area inside it. The legend sits above the plot.
constexpr double kWidth = 760, kLeft = 72, kRight = 16, kPlotHeight = 260, kBottom = 74;
constexpr double kLegendRow = 20;

struct Frame {
  double top = 0;  // of the plot area
  double width() const { return kWidth - kLeft - kRight; }
  double bottom() const { return top + kPlotHeight; }
  double height() const { return bottom() + kBottom; }
};

struct LegendEntry {
  std::string name;
  std::string colour;
};

// A y axis from 0 to `top` with gridlines every `step`.
struct Axis {
  double top = 1, step = 0.2;
  int decimals() const { return std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9))); }
};

// Steps of 1, 2 or 5 x 10^n, about five of them up to `max`.
Axis NiceAxis(double max) {
  if (!(max > 0) || !std::isfinite(max)) return {};
  const double raw = max / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  return {std::ceil(max / step - 1e-9) * step, step};
}

// Lays the legend out in rows from the left; returns the rows' SVG and sets frame.top below them.
std::string Legend(const std::vector<LegendEntry>& entries, Frame& frame) {
  std::string out = "<g class=\"legend\">";
  double x = kLeft, y = 14;
  for (const LegendEntry& e : entries) {
    const double w = 30 + 7.2 * static_cast<double>(e.name.size());
    if (x + w > kWidth - kRight && x > kLeft) x = kLeft, y += kLegendRow;
    out +=
        StrCat("<rect x=\"", Px(x), "\" y=\"", Px(y - 9), "\" width=\"14\" height=\"10\" fill=\"", e.colour,
               "\"/><text x=\"", Px(x + 19), "\" y=\"", Px(y), "\">", HtmlEscape(e.name), "</text>");
    x += w;
  }
  out += "</g>";
  frame.top = y + 22;
  return out;
}

std::string OpenSvg(std::string_view label, const Frame& frame) {
  return StrCat("<svg viewBox=\"0 0 ", Px(kWidth), " ", Px(frame.height()), "\" width=\"", Px(kWidth),
                "\" height=\"", Px(frame.height()), "\" role=\"img\" aria-label=\"", HtmlEscape(label),
                "\"><title>", HtmlEscape(label), "</title>");
}

// Gridlines, tick labels and the rotated axis label of a y axis; the x axis line and its label.
std::string Axes(const Frame& f, const Axis& axis, std::string_view y_label, std::string_view x_label) {
  std::string out = "<g class=\"axes\">";
  const int ticks = static_cast<int>(std::lround(axis.top / axis.step));
  for (int i = 0; i <= ticks; ++i) {
    const double v = axis.step * i;
    const double y = f.bottom() - kPlotHeight * v / axis.top;
    out += StrCat("<line class=\"grid\" x1=\"", Px(kLeft), "\" x2=\"", Px(kLeft + f.width()), "\" y1=\"",
                  Px(y), "\" y2=\"", Px(y), "\"/><text class=\"tick\" x=\"", Px(kLeft - 6), "\" y=\"",
                  Px(y + 4), "\" text-anchor=\"end\">", Fixed(v, axis.decimals()), "</text>");
  }
  out += StrCat("<line class=\"axis\" x1=\"", Px(kLeft), "\" x2=\"", Px(kLeft), "\" y1=\"", Px(f.top),
                "\" y2=\"", Px(f.bottom()), "\"/><line class=\"axis\" x1=\"", Px(kLeft), "\" x2=\"",
                Px(kLeft + f.width()), "\" y1=\"", Px(f.bottom()), "\" y2=\"", Px(f.bottom()), "\"/>");
  const double mid_y = f.top + kPlotHeight / 2;
  out += StrCat("<text class=\"label\" x=\"16\" y=\"", Px(mid_y),
                "\" text-anchor=\"middle\" transform=\"rotate(-90 16 ", Px(mid_y), ")\">",
                HtmlEscape(y_label), "</text>");
  out += StrCat("<text class=\"label\" x=\"", Px(kLeft + f.width() / 2), "\" y=\"", Px(f.height() - 8),
                "\" text-anchor=\"middle\">", HtmlEscape(x_label), "</text></g>");
  return out;
}

// Recall@K per model over K on a log scale.
std::string RecallCurveSvg(std::span<const ReportModel> models) {
  std::set<int> depths;
  double max_recall = 0;
  for (const ReportModel& m : models) {
    for (auto [d, r] : m.report.recall_curve) {
      if (d <= 0 || !std::isfinite(r)) continue;
      depths.insert(d);
      max_recall = std::max(max_recall, r);
    }
  }
  if (depths.empty()) return "<p class=\"empty\">No recall curve was measured.</p>";
  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < models.size(); ++i) legend.push_back({models[i].name, Colour(i)});
  Frame f;
  const std::string legend_svg = Legend(legend, f);
  const Axis axis = NiceAxis(max_recall);
  const double lo = std::log10(*depths.begin()), hi = std::log10(*depths.rbegin());
  const auto x_of = [&](int d) {
    return hi > lo ? kLeft + 12 + (f.width() - 24) * (std::log10(d) - lo) / (hi - lo) : kLeft + f.width() / 2;
  };
  const auto y_of = [&](double v) { return f.bottom() - kPlotHeight * v / axis.top; };
  std::string out = OpenSvg("Recall@K per model", f) + legend_svg +
                    Axes(f, axis, "mean recall@K", "K: length of the recommended list (log scale)");
  for (int d : depths) {
    out += StrCat("<text class=\"tick\" x=\"", Px(x_of(d)), "\" y=\"", Px(f.bottom() + 16),
                  "\" text-anchor=\"middle\">", d, "</text>");
  }
  for (size_t i = 0; i < models.size(); ++i) {
    std::string points, marks;
    for (auto [d, r] : models[i].report.recall_curve) {
      if (d <= 0 || !std::isfinite(r)) continue;
      points += StrCat(points.empty() ? "" : " ", Px(x_of(d)), ",", Px(y_of(r)));
      marks += StrCat("<circle cx=\"", Px(x_of(d)), "\" cy=\"", Px(y_of(r)), "\" r=\"3.5\" fill=\"",
                      Colour(i), "\"><title>", HtmlEscape(models[i].name), ": recall@", d, " = ", Fixed(r, 4),
                      "</title></circle>");
    }
    out += StrCat("<g class=\"series\" data-model=\"", HtmlEscape(models[i].name), "\"><polyline points=\"",
                  points, "\" fill=\"none\" stroke=\"", Colour(i), "\" stroke-width=\"2\"/>", marks, "</g>");
  }
  return out + "</svg>";
}

struct BarGroup {
  std::string label, sublabel;
};
struct BarSeries {
  std::string name, colour;
  std::vector<double> values;  // one per group; NaN: no bar
};

// Bars side by side within each group; the value above each bar when there is room for it.
std::string GroupedBarsSvg(std::string_view title, const std::vector<BarGroup>& groups,
                           const std::vector<BarSeries>& series, std::string_view y_label,
                           std::string_view x_label, double fixed_top, int value_decimals) {
  double max = 0;
  for (const BarSeries& s : series) {
    for (double v : s.values) {
      if (std::isfinite(v)) max = std::max(max, v);
    }
  }
  std::vector<LegendEntry> legend;
  for (const BarSeries& s : series) legend.push_back({s.name, s.colour});
  Frame f;
  const std::string legend_svg = Legend(legend, f);
  const Axis axis = fixed_top > 0 ? NiceAxis(fixed_top) : NiceAxis(max);
  std::string out = OpenSvg(title, f) + legend_svg + Axes(f, axis, y_label, x_label);
  const double group_w = f.width() / static_cast<double>(std::max<size_t>(1, groups.size()));
  const double bar_w = group_w * 0.8 / static_cast<double>(std::max<size_t>(1, series.size()));
  for (size_t g = 0; g < groups.size(); ++g) {
    const double gx = kLeft + group_w * static_cast<double>(g);
    out += StrCat("<text class=\"tick\" x=\"", Px(gx + group_w / 2), "\" y=\"", Px(f.bottom() + 16),
                  "\" text-anchor=\"middle\">", HtmlEscape(groups[g].label), "</text>");
    if (!groups[g].sublabel.empty()) {
      out += StrCat("<text class=\"tick sub\" x=\"", Px(gx + group_w / 2), "\" y=\"", Px(f.bottom() + 30),
                    "\" text-anchor=\"middle\">", HtmlEscape(groups[g].sublabel), "</text>");
    }
  }
  for (size_t s = 0; s < series.size(); ++s) {
    out += StrCat("<g class=\"series\" data-series=\"", HtmlEscape(series[s].name), "\">");
    for (size_t g = 0; g < groups.size() && g < series[s].values.size(); ++g) {
      const double v = series[s].values[g];
      if (!std::isfinite(v)) continue;
      const double h = kPlotHeight * std::clamp(v / axis.top, 0.0, 1.0);
      const double x = kLeft + group_w * (static_cast<double>(g) + 0.1) + bar_w * static_cast<double>(s);
      out += StrCat("<rect x=\"", Px(x + 1), "\" y=\"", Px(f.bottom() - h), "\" width=\"", Px(bar_w - 2),
                    "\" height=\"", Px(h), "\" fill=\"", series[s].colour, "\"><title>",
                    HtmlEscape(series[s].name), ", ", HtmlEscape(groups[g].label), ": ",
                    Fixed(v, value_decimals), "</title></rect>");
      if (bar_w >= 26) {
        out += StrCat("<text class=\"value\" x=\"", Px(x + bar_w / 2), "\" y=\"", Px(f.bottom() - h - 4),
                      "\" text-anchor=\"middle\">", Fixed(v, value_decimals), "</text>");
      }
    }
    out += "</g>";
  }
  return out + "</svg>";
}

// The depths of Recall@N columns: every model's, ascending.
std::vector<int> RecallDepths(std::span<const ReportModel> models) {
  std::set<int> depths;
  for (const ReportModel& m : models) {
    for (auto [d, r] : m.report.recall_at) depths.insert(d);
  }
  return {depths.begin(), depths.end()};
}

double RecallAtOrNaN(const EvalReport& r, int depth) {
  for (auto [d, v] : r.recall_at) {
    if (d == depth) return v;
  }
  return kNaN;
}

// A table cell with a figure; class "best" on the column's highest when several models compete.
std::string Cell(double v, int decimals, double best) {
  const bool is_best = std::isfinite(v) && std::isfinite(best) && v == best;
  return StrCat(is_best ? "<td class=\"num best\">" : "<td class=\"num\">", Fixed(v, decimals), "</td>");
}

std::string MetricsSection(std::span<const ReportModel> models) {
  const int k = models.empty() ? 10 : models[0].report.k;
  const std::vector<int> depths = RecallDepths(models);
  struct Column {
    std::string name;
    std::function<double(const EvalReport&)> get;
  };
  std::vector<Column> columns = {{"MAP", [](const EvalReport& r) { return r.map; }},
                                 {StrCat("nDCG@", k), [](const EvalReport& r) { return r.ndcg; }},
                                 {StrCat("Precision@", k), [](const EvalReport& r) { return r.precision; }},
                                 {StrCat("Recall@", k), [](const EvalReport& r) { return r.recall; }}};
  for (int d : depths) {
    columns.push_back({StrCat("Recall@", d), [d](const EvalReport& r) { return RecallAtOrNaN(r, d); }});
  }
  columns.push_back({"AUC", [](const EvalReport& r) { return r.auc; }});
  columns.push_back({StrCat("coverage@", k), [](const EvalReport& r) { return r.coverage; }});
  columns.push_back({StrCat("diversity@", k), [](const EvalReport& r) { return r.diversity; }});

  std::string out = StrCat(
      "<section id=\"metrics\"><h2>Metrics</h2><p>Means over the evaluated test users (Microsoft "
      "Recommenders' "
      "definitions; every held-out row is relevant). The best figure of each column is bold.</p><div "
      "class=\"table\"><table>"
      "<thead><tr><th>model</th><th>users</th>");
  for (const Column& c : columns) out += StrCat("<th>", HtmlEscape(c.name), "</th>");
  out += "</tr></thead><tbody>";
  std::vector<double> best(columns.size(), kNaN);
  if (models.size() > 1) {
    for (size_t c = 0; c < columns.size(); ++c) {
      for (const ReportModel& m : models) {
        const double v = columns[c].get(m.report);
        if (std::isfinite(v) && !(v <= best[c])) best[c] = v;
      }
    }
  }
  for (const ReportModel& m : models) {
    out += StrCat("<tr><th scope=\"row\">", HtmlEscape(m.name), "</th><td class=\"num\">", m.report.users,
                  m.report.users < m.report.users_total ? StrCat(" of ", m.report.users_total) : "", "</td>");
    for (size_t c = 0; c < columns.size(); ++c) out += Cell(columns[c].get(m.report), 4, best[c]);
    out += "</tr>";
  }
  return out + "</tbody></table></div></section>";
}

std::string RecallSection(std::span<const ReportModel> models) {
  std::string out =
      "<section id=\"recall-curve\"><h2>Recall@K</h2><p>Share of each user's held-out videos found in the "
      "top K, "
      "averaged over users: how deep a list must go to hold what the user watched (a retrieval stage's "
      "candidate depth).</p><figure>";
  out += RecallCurveSvg(models);
  out += "</figure><div class=\"table\"><table><thead><tr><th>model</th>";
  std::set<int> depths;
  for (const ReportModel& m : models) {
    for (auto [d, r] : m.report.recall_curve) depths.insert(d);
  }
  for (int d : depths) out += StrCat("<th>@", d, "</th>");
  out += "</tr></thead><tbody>";
  for (const ReportModel& m : models) {
    out += StrCat("<tr><th scope=\"row\">", HtmlEscape(m.name), "</th>");
    for (int d : depths) {
      double v = kNaN;
      for (auto [cd, r] : m.report.recall_curve) {
        if (cd == d) v = r;
      }
      out += StrCat("<td class=\"num\">", Fixed(v, 4), "</td>");
    }
    out += "</tr>";
  }
  return out + "</tbody></table></div></section>";
}

std::string RowsLabel(const ActivityBucket& b) {
  return b.min_rows == b.max_rows ? StrCat(b.min_rows) : StrCat(b.min_rows, "\u2013", b.max_rows);
}

std::string ActivitySection(std::span<const ReportModel> models) {
  const int k = models.empty() ? 10 : models[0].report.k;
  // Buckets by their range, across models (the same split gives every model the same buckets).
  std::map<int64_t, ActivityBucket> buckets;
  for (const ReportModel& m : models) {
    for (const ActivityBucket& b : m.report.by_activity) buckets.try_emplace(b.min_rows, b);
  }
  const auto find = [](const EvalReport& r, int64_t min_rows) -> const ActivityBucket* {
    for (const ActivityBucket& b : r.by_activity) {
      if (b.min_rows == min_rows) return &b;
    }
    return nullptr;
  };
  std::string out = StrCat("<section id=\"ndcg-by-activity\"><h2>nDCG@", k,
                           " by user activity</h2><p>Users grouped by their number of training rows (powers "
                           "of two): whether a model "
                           "serves light users (cold start) as well as heavy ones.</p><figure>");
  if (buckets.empty()) {
    out += "<p class=\"empty\">No users were evaluated.</p>";
  } else {
    std::vector<BarGroup> groups;
    for (const auto& [min_rows, b] : buckets) groups.push_back({RowsLabel(b), StrCat(b.users, " users")});
    std::vector<BarSeries> series;
    for (size_t i = 0; i < models.size(); ++i) {
      BarSeries s{models[i].name, Colour(i), {}};
      for (const auto& [min_rows, b] : buckets) {
        const ActivityBucket* mb = find(models[i].report, min_rows);
        s.values.push_back(mb ? mb->ndcg : kNaN);
      }
      series.push_back(std::move(s));
    }
    out += GroupedBarsSvg(StrCat("nDCG@", k, " by user activity"), groups, series, StrCat("mean nDCG@", k),
                          "training rows per user (users in the bucket)", 0, 2);
  }
  out += "</figure><div class=\"table\"><table><thead><tr><th>training rows</th><th>users</th>";
  for (const ReportModel& m : models) {
    out += StrCat("<th>", HtmlEscape(m.name), " nDCG@", k, "</th><th>", HtmlEscape(m.name), " recall@", k,
                  "</th>");
  }
  out += "</tr></thead><tbody>";
  for (const auto& [min_rows, b] : buckets) {
    out += StrCat("<tr><th scope=\"row\">", RowsLabel(b), "</th><td class=\"num\">", b.users, "</td>");
    for (const ReportModel& m : models) {
      const ActivityBucket* mb = find(m.report, min_rows);
      out += StrCat("<td class=\"num\">", Fixed(mb ? mb->ndcg : kNaN, 4), "</td><td class=\"num\">",
                    Fixed(mb ? mb->recall : kNaN, 4), "</td>");
    }
    out += "</tr>";
  }
  return out + "</tbody></table></div></section>";
}

std::string PopularitySection(std::span<const ReportModel> models) {
  const int k = models.empty() ? 10 : models[0].report.k;
  std::string out = StrCat(
      "<section id=\"popularity\"><h2>Popularity bias and coverage</h2><p>A video's popularity percentile is "
      "the "
      "share of the training catalog less popular than it (by training rows; 50 for a uniformly random "
      "pick). "
      "The head is the most popular tenth of the catalog. The held-out videos are what users went on to "
      "watch: a "
      "model far above them on either figure pushes popular videos beyond what users want. Coverage@",
      k,
      " is the share of the catalog in at least one list; Gini measures how unevenly the lists expose the "
      "catalog "
      "(0: evenly, 100: one video everywhere).</p><figure>");
  std::vector<BarGroup> groups = {{"popularity percentile", "mean over listed videos"},
                                  {"head share %", "slots holding a top-10% video"},
                                  {StrCat("coverage@", k, " %"), "catalog videos listed"},
                                  {"Gini \u00d7 100", "unevenness of exposure"}};
  std::vector<BarSeries> series;
  for (size_t i = 0; i < models.size(); ++i) {
    const EvalReport& r = models[i].report;
    series.push_back({models[i].name,
                      Colour(i),
                      {r.popularity.recommended_percentile, 100 * r.popularity.recommended_head_share,
                       100 * r.coverage, 100 * r.popularity.gini}});
  }
  if (!models.empty()) {
    const PopularityBias& p = models[0].report.popularity;
    series.push_back(
        {"held-out videos", kReferenceColour, {p.test_percentile, 100 * p.test_head_share, kNaN, kNaN}});
  }
  out += GroupedBarsSvg("Popularity bias and coverage", groups, series, "percent",
                        "measure (held-out videos: what users watched)", 100, 1);
  out += StrCat(
      "</figure><div class=\"table\"><table><thead><tr><th></th><th>popularity percentile</th><th>head "
      "share</th><th>coverage@",
      k, "</th><th>Gini</th></tr></thead><tbody>");
  for (const ReportModel& m : models) {
    const PopularityBias& p = m.report.popularity;
    out += StrCat("<tr><th scope=\"row\">", HtmlEscape(m.name), "</th><td class=\"num\">",
                  Fixed(p.recommended_percentile, 2), "</td><td class=\"num\">",
                  Fixed(p.recommended_head_share, 4), "</td><td class=\"num\">", Fixed(m.report.coverage, 4),
                  "</td><td class=\"num\">", Fixed(p.gini, 4), "</td></tr>");
  }
  if (!models.empty()) {
    const PopularityBias& p = models[0].report.popularity;
    out += StrCat("<tr class=\"reference\"><th scope=\"row\">held-out videos</th><td class=\"num\">",
                  Fixed(p.test_percentile, 2), "</td><td class=\"num\">", Fixed(p.test_head_share, 4),
                  "</td><td></td><td></td></tr>");
  }
  return out + "</tbody></table></div></section>";
}

std::string GatesSection(std::span<const ReportGate> gates) {
  const auto failed =
      std::count_if(gates.begin(), gates.end(), [](const ReportGate& g) { return !g.passed; });
  std::string out = StrCat(
      "<section id=\"gates\"><h2>Gates</h2><p class=\"verdict ", failed == 0 ? "pass\">All " : "fail\">",
      failed == 0 ? StrCat(gates.size(), " gates passed")
                  : StrCat(failed, " of ", gates.size(), " gates failed"),
      failed == 0 ? ": the model may be deployed." : ": nothing is deployed.",
      "</p><div class=\"table\"><table><thead><tr><th>gate</th><th>value</th><th>threshold</th><th>verdict</"
      "th></tr></thead><tbody>");
  for (const ReportGate& g : gates) {
    out += StrCat("<tr class=\"", g.passed ? "pass" : "fail", "\"><td>", HtmlEscape(g.name),
                  "</td><td class=\"num\">", std::isfinite(g.value) ? Fixed(g.value, 4) : "missing",
                  "</td><td class=\"num\">", Fixed(g.threshold, 4), "</td><td class=\"verdict\">",
                  g.passed ? "PASS" : "FAIL", "</td></tr>");
  }
  return out + "</tbody></table></div></section>";
}

std::string RunSection(const ReportMeta& meta, std::span<const ReportModel> models) {
  std::vector<std::pair<std::string, std::string>> rows;
  const auto add = [&](std::string name, const std::string& value) {
    if (!value.empty()) rows.emplace_back(std::move(name), value);
  };
  add("dataset", meta.dataset);
  add("split", meta.split);
  std::vector<std::string> names;
  for (const ReportModel& m : models) names.push_back(m.name);
  add("models", StrJoin(names, ", "));
  if (!models.empty()) {
    const EvalReport& r = models[0].report;
    add("test users",
        r.users < r.users_total ? StrCat(r.users, " (a sample of ", r.users_total, ")") : StrCat(r.users));
    add("list length k", StrCat(r.k));
  }
  for (const auto& [name, value] : meta.extra) add(name, value);
  add("generated", meta.generated_at);
  add("vrec version", meta.vrec_version);
  std::string out = "<section id=\"run\"><h2>Run</h2><div class=\"table\"><table class=\"meta\"><tbody>";
  for (const auto& [name, value] : rows) {
    out += StrCat("<tr><th scope=\"row\">", HtmlEscape(name), "</th><td>", HtmlEscape(value), "</td></tr>");
  }
  return out + "</tbody></table></div></section>";
}

constexpr char kStyle[] = R"css(
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 15px; line-height: 1.45;
       color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 1040px; padding: 24px 28px 48px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p { margin: 6px 0 10px; max-width: 80ch; }
.subtitle { color: #555; margin: 0 0 8px; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 0.86em; }
th, td { border: 1px solid #d6d6d6; padding: 3px 7px; text-align: left; vertical-align: top; }
tbody th { white-space: nowrap; }
thead th { background: #f2f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; }
table.meta th { background: #f7f7f7; font-weight: normal; color: #444; }
tr.reference { color: #555; font-style: italic; }
tr.pass td.verdict { background: #d8f3dc; color: #14532d; font-weight: bold; }
tr.fail td.verdict { background: #fde2e1; color: #8a1c1c; font-weight: bold; }
tr.fail td { background: #fff6f5; }
p.verdict { font-weight: bold; padding: 6px 10px; border-radius: 4px; display: inline-block; }
p.verdict.pass { background: #d8f3dc; color: #14532d; }
p.verdict.fail { background: #fde2e1; color: #8a1c1c; }
figure { margin: 8px 0; }
svg { max-width: 100%; height: auto; font-family: inherit; font-size: 12px; background: #fff; }
svg .grid { stroke: #e6e6e6; stroke-width: 1; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .tick { fill: #333; font-size: 11px; }
svg .tick.sub { fill: #666; font-size: 10px; }
svg .label { fill: #222; font-size: 12px; }
svg .value { fill: #222; font-size: 10px; }
svg .legend text { fill: #222; font-size: 12px; }
.empty { color: #777; font-style: italic; }
footer { margin-top: 36px; color: #777; font-size: 0.85em; }
)css";

}  // namespace

std::string HtmlEscape(std::string_view s) {
  const std::string valid = ValidUtf8(s);
  std::string out;
  out.reserve(valid.size());
  for (char c : valid) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderHtmlReport(const ReportMeta& meta, std::span<const ReportModel> models,
                             std::span<const ReportGate> gates) {
  std::string out = StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      // Self-contained by construction, and enforced: the page may load nothing at all.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "img-src data:\">"
      // No favicon request either (a browser asks for /favicon.ico when the page names none).
      "<link rel=\"icon\" href=\"data:,\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"generator\" content=\"vrec ",
      HtmlEscape(meta.vrec_version), "\"><title>", HtmlEscape(meta.title), "</title><style>", kStyle,
      "</style></head>\n<body><header><h1>", HtmlEscape(meta.title), "</h1>");
  if (!meta.dataset.empty()) out += StrCat("<p class=\"subtitle\">", HtmlEscape(meta.dataset), "</p>");
  out += "</header>\n<main>";
  out += RunSection(meta, models) + "\n";
  if (!gates.empty()) out += GatesSection(gates) + "\n";
  out += MetricsSection(models) + "\n";
  out += RecallSection(models) + "\n";
  out += ActivitySection(models) + "\n";
  out += PopularitySection(models) + "\n";
  out += StrCat("</main><footer>Written by vrec ", HtmlEscape(meta.vrec_version),
                ". Self-contained: no scripts, no external resources.</footer></body></html>\n");
  return out;
}

Status CheckReportPath(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("the report's path is empty");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return InvalidArgumentError(
        StrCat("cannot write the report ", path, ": folder ", parent.string(), " does not exist"));
  }
  if (fs::is_directory(path, ec))
    return InvalidArgumentError(StrCat("the report path ", path, " is a folder"));
  return OkStatus();
}

Status WriteHtmlReport(const std::string& path, std::string_view html) {
  VREC_RETURN_IF_ERROR(CheckReportPath(path));
  return WriteFileDurably(path, html);
}

}  // namespace vrec::eval
