#include "vrec/offline/trainer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/events/segments.h"
#include "vrec/offline/platform_data.h"
#include "vrec/registry/manifest.h"
#include "vrec/registry/registry.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;

std::string Fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string HumanDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds >= 2 * 86400) return StrCat(seconds / 86400, "d", (seconds % 86400) / 3600, "h");
  if (seconds >= 2 * 3600) return StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
  if (seconds >= 120) return StrCat(seconds / 60, "m");
  return StrCat(seconds, "s");
}

StatusOr<TrainerState> ReadState(const std::string& path) {
  TrainerState s;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return s;  // a fresh trainer
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](std::string_view what) {
    return DataLossError(StrCat(path, ": ", what, " (remove the file to start the trainer afresh)"));
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  try {
    s.last_run_at = j.at("last_run_at").get<int64_t>();
    s.last_run_through = j.at("last_run_through").get<uint64_t>();
    s.catalog_hash = j.at("catalog_hash").get<std::string>();
    s.last_outcome = j.at("last_outcome").get<std::string>();
    s.last_record = j.at("last_record").get<std::string>();
    s.runs = j.at("runs").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return bad(StrCat("malformed trainer state: ", e.what()));
  }
  return s;
}

std::string HashFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return "";
  Hasher h;
  std::string chunk(1 << 16, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    h.Update(std::string_view(chunk.data(), static_cast<size_t>(in.gcount())));
  }
  return h.Hex();
}

}  // namespace

std::optional<int64_t> ParseUtcIso8601(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char z = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 || z != 'Z' ||
      copy.size() != 20) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

Trainer::Trainer(TrainerOptions options, std::string state_file, FileLock lock, TrainerState state)
    : options_(std::move(options)),
      state_file_(std::move(state_file)),
      lock_(std::move(lock)),
      state_(state) {}

StatusOr<std::unique_ptr<Trainer>> Trainer::Open(TrainerOptions options) {
  if (!options.run_pipeline) return InvalidArgumentError("trainer: no pipeline to run");
  if (options.pipeline.registry.empty()) return InvalidArgumentError("trainer: no registry given");
  const std::string state_file = options.config.StateFile(options.pipeline.registry);
  VREC_RETURN_IF_ERROR(CreateDirectoriesDurably(fs::path(state_file).parent_path().string()));
  auto lock = FileLock::TryAcquire(state_file + ".lock");
  if (!lock.ok()) {
    if (lock.status().code() == StatusCode::kUnavailable) {
      return UnavailableError(
          StrCat("another vrec trainer is running for ", state_file, " (", state_file, ".lock is held)"));
    }
    return lock.status();
  }
  VREC_ASSIGN_OR_RETURN(TrainerState state, ReadState(state_file));
  return std::unique_ptr<Trainer>(new Trainer(std::move(options), state_file, std::move(*lock), state));
}

int64_t Trainer::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Trainer::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "trainer: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

std::string Trainer::ExportDir() const {
  return options_.export_dir.empty() ? (fs::path(options_.pipeline.registry) / "events").string()
                                     : options_.export_dir;
}

std::string Trainer::CatalogHash() const {
  const fs::path dir = fs::path(ExportDir()) / events::kCatalogExportDir;
  const std::string videos = HashFileBytes((dir / events::kVideosExportFile).string());
  const std::string users = HashFileBytes((dir / events::kUsersExportFile).string());
  if (videos.empty() && users.empty()) return "";
  return HashHex(StrCat(videos, "|", users));
}

StatusOr<TrainerDecision> Trainer::Decide() const {
  TrainerDecision d;
  const TrainerConfig& c = options_.config;
  VREC_ASSIGN_OR_RETURN(d.exported_through, events::ExportedThrough(ExportDir()));
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg,
                        registry::ModelRegistry::Open(options_.pipeline.registry));
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, reg.ProductionVersion());
  uint64_t production_through = 0;
  int64_t production_created = 0;
  if (production) {
    VREC_ASSIGN_OR_RETURN(registry::Manifest m, registry::ReadManifest(reg.VersionPath(*production)));
    VREC_ASSIGN_OR_RETURN(production_through, ThroughSeqOf(m));
    production_created = ParseUtcIso8601(m.created_at).value_or(0);
  }
  d.data_through = std::max(production_through, state_.last_run_through);
  d.new_events = d.exported_through > d.data_through ? d.exported_through - d.data_through : 0;
  const std::string catalog = CatalogHash();
  d.catalog_changed = !catalog.empty() && catalog != state_.catalog_hash;
  if (!production && d.exported_through == 0) {
    d.reason = "nothing to train on: no production model and no exported events";
    return d;
  }
  if (c.min_new_events > 0 && d.new_events >= static_cast<uint64_t>(c.min_new_events)) {
    d.due = true;
    d.reason = StrCat(d.new_events,
                      " new events since the last run (trainer.min_new_events = ", c.min_new_events, ")");
    return d;
  }
  // Without a run of its own the trainer counts from production's creation, so that starting a
  // trainer beside a fresh model does not retrain at once.
  const int64_t last = state_.last_run_at > 0 ? state_.last_run_at : production_created;
  const int64_t since = Now() - last;
  const int64_t interval = c.interval.count();
  if (last == 0 || since >= interval) {
    if (d.new_events > 0 || d.catalog_changed) {
      d.due = true;
      d.reason = StrCat(
          "scheduled (trainer.interval = ", HumanDuration(interval),
          last == 0 ? std::string(", no run yet") : StrCat(", last run ", HumanDuration(since), " ago"),
          "): ", d.new_events, " new events", d.catalog_changed ? ", catalog updates" : "");
    } else {
      d.reason = "scheduled, but nothing new was exported since the last run";
    }
    return d;
  }
  d.reason = StrCat(d.new_events, " new events of ", c.min_new_events, "; next scheduled run in ",
                    HumanDuration(interval - since));
  return d;
}

Status Trainer::SaveState(const TrainerRun& run) const {
  nlohmann::json j;
  j["last_run_at"] = state_.last_run_at;
  j["last_run_through"] = state_.last_run_through;
  j["catalog_hash"] = state_.catalog_hash;
  j["last_outcome"] = state_.last_outcome;
  j["last_record"] = state_.last_record;
  j["runs"] = state_.runs;
  VREC_RETURN_IF_ERROR(WriteFileDurably(state_file_, j.dump(2) + "\n"));
  // The audit log: one line per run (a torn last line after a crash is harmless to readers of JSON lines).
  nlohmann::json line;
  line["time"] = registry::NowUtcIso8601();
  line["reason"] = run.decision.reason;
  line["new_events"] = run.decision.new_events;
  line["through_seq"] = state_.last_run_through;
  line["outcome"] = run.outcome;
  line["seconds"] = run.seconds;
  line["record"] = state_.last_record;
  const std::string path = (fs::path(state_file_).parent_path() / "runs.jsonl").string();
  const std::string text = line.dump() + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError(StrCat("cannot open ", path));
  const bool ok =
      ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  return ok ? OkStatus() : InternalError(StrCat("cannot append to ", path));
}

StatusOr<TrainerRun> Trainer::RunOnce(bool force) {
  TrainerRun run;
  VREC_ASSIGN_OR_RETURN(run.decision, Decide());
  if (!run.decision.due && !force) return run;
  Log(StrCat("run ", state_.runs + 1, ": ", force && !run.decision.due ? "forced; " : "",
             run.decision.reason));
  const int64_t started = Now();
  const std::string catalog = CatalogHash();
  Stopwatch clock;
  uint64_t through = run.decision.exported_through;
  run.status = [&]() -> Status {
    VREC_ASSIGN_OR_RETURN(PlatformData data, LoadPlatformData({.registry = options_.pipeline.registry,
                                                               .export_dir = ExportDir()}));
    for (const std::string& w : data.warnings) Log(StrCat("warning: ", w));
    Log(data.Describe());
    through = data.through_seq;
    PipelineOptions o = options_.pipeline;
    o.source = data.Describe();
    o.manifest_params[kThroughSeqParam] = std::to_string(data.through_seq);
    VREC_ASSIGN_OR_RETURN(PipelineRecord record, options_.run_pipeline(data.dataset, o));
    run.record = std::move(record);
    return OkStatus();
  }();
  run.ran = true;
  run.seconds = clock.Seconds();
  if (!run.status.ok()) {
    run.outcome = StrCat("failed: ", run.status.message());
  } else if (!run.record->gates_passed) {
    std::string failed;
    for (const GateVerdict& g : run.record->gates) {
      if (!g.passed) failed += StrCat(failed.empty() ? "" : ", ", g.name);
    }
    run.outcome = StrCat("gates failed (", failed, "); production stays ",
                         run.record->production_before.value_or("empty"));
  } else {
    run.outcome =
        StrCat(run.record->promoted ? "promoted " : "registered ", run.record->version.value_or("?"));
  }
  state_.last_run_at = started;
  state_.last_run_through = std::max(through, run.decision.exported_through);
  state_.catalog_hash = catalog;
  state_.last_outcome = run.outcome;
  state_.last_record = run.record ? run.record->record_path : "";
  ++state_.runs;
  Log(StrCat("run ", state_.runs, ": ", run.outcome, " in ", Fixed1(run.seconds), " s",
             run.record ? StrCat(" (record ", run.record->record_path, ")") : ""));
  VREC_RETURN_IF_ERROR(SaveState(run));
  return run;
}

}  // namespace vrec::offline
