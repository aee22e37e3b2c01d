// The evaluation report: one self-contained HTML file (inline CSS, plots as inline SVG drawn here,
// no script, no external resource) comparing one or more evaluated models, with optional gate
// verdicts. `vrec eval --report FILE` and every `vrec pipeline run` write one.
//
// Sections, with stable ids for tests and links: #run (metadata), #gates (only when there are
// verdicts), #metrics (the table of means), #recall-curve (recall@K per model, log-scaled K),
// #ndcg-by-activity (nDCG@k per user-activity bucket per model), #popularity (popularity bias and
// coverage per model against the held-out videos).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/eval/harness.h"

namespace vrec::eval {

// One evaluated model of the report.
struct ReportModel {
  std::string name;  // shown as given (escaped), e.g. "sar" or "two-stage"
  EvalReport report;
};

// One gate verdict (offline::GateVerdict's fields; eval does not depend on offline).
struct ReportGate {
  std::string name;  // what was required, e.g. "retrieval_ndcg@10 >= 0.3"
  double value = 0;  // NaN when the figure was missing
  double threshold = 0;
  bool passed = false;
};

// What the report is about, shown in its #run table. Empty fields are left out.
struct ReportMeta {
  std::string title = "vrec evaluation report";
  std::string dataset;       // e.g. "movielens /data/ml-100k"
  std::string split;         // e.g. "stratified"
  std::string generated_at;  // e.g. ISO 8601 UTC
  std::string vrec_version;
  std::vector<std::pair<std::string, std::string>> extra;  // further rows (run id, outcome, ...)
};

// `s` made safe as HTML text and attribute values: & < > " ' become entities, and bytes that are
// not well-formed UTF-8 become U+FFFD.
std::string HtmlEscape(std::string_view s);

// The whole document. Every string from `meta`, `models` and `gates` is escaped. Non-finite
// figures show as "n/a" and are left out of the plots. Pure function; thread-safe.
std::string RenderHtmlReport(const ReportMeta& meta, std::span<const ReportModel> models,
                             std::span<const ReportGate> gates = {});

// InvalidArgument naming the folder when the folder `path` would be written into does not exist
// (checked before hours of training, not after).
Status CheckReportPath(const std::string& path);

// Writes `html` to `path` atomically (path + ".tmp", fsynced, renamed over `path`): readers see the
// old file or the new one, never half of it. Errors: those of CheckReportPath; Internal on I/O.
Status WriteHtmlReport(const std::string& path, std::string_view html);

}  // namespace vrec::eval
