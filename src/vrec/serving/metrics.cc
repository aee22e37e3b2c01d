#include "vrec/serving/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "vrec/common/strings.h"

namespace vrec::serving {
namespace {

// Registration rules are invariants of the calling code (see the header): report and abort.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "vrec::serving::MetricsRegistry: %s\n", message.c_str());
  std::abort();
}

bool IsValidMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;  // "__" names are reserved for Prometheus
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
void AppendEscaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Go's ParseFloat spellings for the special values; other values in their shortest exact form.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    out += StrCat(v);
  }
}

// A histogram bound as client_golang spells it (Go's FormatFloat 'g', shortest): "0.0001", "5e-05",
// "2.5". le values are matched as strings in PromQL (e.g. {le="0.0001"}), so the spelling matters;
// shortest-of-both formatting would give "1e-04". The two agree for bounds below 1e6.
std::string FormatBound(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
  return std::string(buf, p);
}

// {a="x",b="y"} plus an optional extra label (le for histogram buckets); nothing when empty.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscaped(out, values[i], /*escape_quote=*/true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void CheckBounds(std::string_view name, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Die(StrCat("histogram ", name, ": bucket bounds must be finite and strictly increasing"));
    }
  }
}

}  // namespace

const std::vector<double>& DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                               0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.0};
  return kBuckets;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // Prometheus buckets are upper-inclusive (le): the first bound >= v.
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) n += buckets_[i].load(std::memory_order_relaxed);
  return n;
}

struct MetricsRegistry::Child {
  std::vector<std::string> label_values;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::function<double()> callback;  // a callback gauge when set (gauge is then null)
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;                    // histograms only
  std::vector<std::unique_ptr<Child>> children;  // registration order, append-only
  std::map<std::vector<std::string>, Child*> by_values;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Child& MetricsRegistry::GetChild(std::string_view name, std::string_view help, Type type,
                                                  const MetricLabels& labels,
                                                  const std::vector<double>* bounds) {
  auto found = by_name_.find(std::string(name));
  Family* family = found == by_name_.end() ? nullptr : found->second;
  std::vector<std::string> names, values;
  for (const auto& [n, v] : labels) {
    names.push_back(n);
    values.push_back(v);
  }
  if (family == nullptr) {
    if (!IsValidMetricName(name)) Die(StrCat("invalid metric name \"", name, "\""));
    for (const std::string& n : names) {
      if (!IsValidLabelName(n)) Die(StrCat(name, ": invalid label name \"", n, "\""));
      if (type == Type::kHistogram && n == "le") Die(StrCat(name, ": histograms cannot have a label \"le\""));
    }
    for (size_t i = 0; i < names.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (names[i] == names[j]) Die(StrCat(name, ": label \"", names[i], "\" given twice"));
      }
    }
    if (bounds != nullptr) CheckBounds(name, *bounds);
    auto f = std::make_unique<Family>();
    f->name = std::string(name);
    f->help = std::string(help);
    f->type = type;
    f->label_names = names;
    if (bounds != nullptr) f->bounds = *bounds;
    family = f.get();
    by_name_.emplace(family->name, family);
    families_.push_back(std::move(f));
  } else {
    if (family->type != type) Die(StrCat(name, ": registered before with another metric type"));
    if (family->label_names != names) {
      Die(StrCat(name, ": label names {", StrJoin(names, ","), "} differ from the family's {",
                 StrJoin(family->label_names, ","), "}"));
    }
    if (bounds != nullptr && *bounds != family->bounds) {
      Die(StrCat(name, ": bucket bounds differ from the family's first registration"));
    }
  }
  auto it = family->by_values.find(values);
  if (it != family->by_values.end()) return *it->second;
  auto child = std::make_unique<Child>();
  child->label_values = values;
  Child* raw = child.get();
  family->children.push_back(std::move(child));
  family->by_values.emplace(std::move(values), raw);
  return *raw;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Child& c = GetChild(name, help, Type::kCounter, labels, nullptr);
  if (c.callback) Die(StrCat(name, ": these labels are registered as a callback counter"));
  if (!c.counter) c.counter = std::make_unique<Counter>();
  return *c.counter;
}

void MetricsRegistry::counter_callback(std::string_view name, std::string_view help,
                                       const MetricLabels& labels, std::function<double()> fn) {
  if (!fn) Die(StrCat(name, ": empty counter callback"));
  std::lock_guard<std::mutex> lock(mu_);
  Child& c = GetChild(name, help, Type::kCounter, labels, nullptr);
  if (c.counter) Die(StrCat(name, ": these labels are registered as an incremented counter"));
  c.callback = std::move(fn);
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Child& c = GetChild(name, help, Type::kGauge, labels, nullptr);
  if (c.callback) Die(StrCat(name, ": these labels are registered as a callback gauge"));
  if (!c.gauge) c.gauge = std::make_unique<Gauge>();
  return *c.gauge;
}

void MetricsRegistry::gauge_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                                     std::function<double()> fn) {
  if (!fn) Die(StrCat(name, ": empty gauge callback"));
  std::lock_guard<std::mutex> lock(mu_);
  Child& c = GetChild(name, help, Type::kGauge, labels, nullptr);
  if (c.gauge) Die(StrCat(name, ": these labels are registered as a settable gauge"));
  c.callback = std::move(fn);
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const MetricLabels& labels, const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  Child& c = GetChild(name, help, Type::kHistogram, labels, &bounds);
  if (!c.histogram) c.histogram = std::make_unique<Histogram>(bounds);
  return *c.histogram;
}

std::string MetricsRegistry::Render() const {
  // Snapshot the structure under the lock, then read values and run callbacks without it: families,
  // children and metric objects are never removed, so the pointers stay valid.
  struct ChildView {
    const Child* child;
    std::function<double()> callback;  // copied: gauge_callback may replace it concurrently
  };
  struct FamilyView {
    const Family* family;
    std::vector<ChildView> children;
  };
  std::vector<FamilyView> view;
  {
    std::lock_guard<std::mutex> lock(mu_);
    view.reserve(families_.size());
    for (const auto& f : families_) {
      FamilyView fv{f.get(), {}};
      fv.children.reserve(f->children.size());
      for (const auto& c : f->children) fv.children.push_back({c.get(), c->callback});
      view.push_back(std::move(fv));
    }
  }

  std::string out;
  for (const FamilyView& fv : view) {
    const Family& f = *fv.family;
    out += "# HELP ";
    out += f.name;
    out += ' ';
    AppendEscaped(out, f.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += f.name;
    out += f.type == Type::kCounter ? " counter\n" : f.type == Type::kGauge ? " gauge\n" : " histogram\n";
    for (const ChildView& cv : fv.children) {
      const Child& c = *cv.child;
      if (f.type == Type::kHistogram) {
        const std::vector<uint64_t> counts = c.histogram->BucketCounts();
        const double sum = c.histogram->sum();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          out += f.name;
          out += "_bucket";
          AppendLabels(out, f.label_names, c.label_values, "le",
                       i < f.bounds.size() ? FormatBound(f.bounds[i]) : "+Inf");
          out += ' ';
          out += StrCat(cumulative);
          out += '\n';
        }
        out += f.name;
        out += "_sum";
        AppendLabels(out, f.label_names, c.label_values);
        out += ' ';
        AppendValue(out, sum);
        out += '\n';
        // _count is the +Inf bucket of this very snapshot, so the two always agree.
        out += f.name;
        out += "_count";
        AppendLabels(out, f.label_names, c.label_values);
        out += ' ';
        out += StrCat(cumulative);
        out += '\n';
        continue;
      }
      double value = 0;
      if (c.counter) {
        value = c.counter->value();
      } else if (c.gauge) {
        value = c.gauge->value();
      } else if (cv.callback) {
        value = cv.callback();
      }
      out += f.name;
      AppendLabels(out, f.label_names, c.label_values);
      out += ' ';
      AppendValue(out, value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace vrec::serving
