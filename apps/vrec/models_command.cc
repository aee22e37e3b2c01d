#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/serving_model.h"

namespace vrec::app {
namespace {

// At most this many metrics per row of the table (--json has them all).
constexpr size_t kTableMetrics = 3;  // the three gated figures of a pipeline model

// The metrics shown in the table: the headline figures first when present, then the rest by name.
std::string KeyMetrics(const std::map<std::string, double>& metrics) {
  // The pipeline's gated figures first, then the plain names of `vrec eval --save` models.
  static const char* const kPreferred[] = {"two_stage_ndcg@10",
                                           "retrieval_recall@100",
                                           "ranker_heldout_auc",
                                           "recall@100",
                                           "ndcg@10",
                                           "map",
                                           "auc"};
  std::vector<std::string> names;
  for (const char* name : kPreferred) {
    if (metrics.count(name)) names.emplace_back(name);
  }
  for (const auto& [name, value] : metrics) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (names.size() > kTableMetrics) names.resize(kTableMetrics);
  std::string out;
  char buf[64];
  for (const std::string& name : names) {
    std::snprintf(buf, sizeof(buf), "%.4f", metrics.at(name));
    out += StrCat(out.empty() ? "" : " ", name, "=", buf);
  }
  return out;
}

// Opens an existing registry. ModelRegistry::Open creates a missing one, which the pipeline wants
// but an operator's typo in --registry does not.
StatusOr<registry::ModelRegistry> OpenExisting(const std::string& root) {
  std::error_code ec;
  if (!std::filesystem::is_directory(std::filesystem::path(root) / "versions", ec)) {
    return NotFoundError(StrCat("no model registry at ", root));
  }
  return registry::ModelRegistry::Open(root);
}

Status RunList(const std::string& root, bool json) {
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, OpenExisting(root));
  VREC_ASSIGN_OR_RETURN(std::vector<registry::VersionInfo> versions, reg.List());
  if (json) {
    std::printf("%s\n", registry::VersionInfosToJson(versions).c_str());
    return OkStatus();
  }
  if (versions.empty()) {
    std::printf("no versions in %s\n", reg.root().c_str());
    return OkStatus();
  }
  size_t version_w = 7, created_w = 7, kind_w = 4;
  for (const auto& v : versions) {
    version_w = std::max(version_w, v.version.size());
    created_w = std::max(created_w, v.created_at.size());
    kind_w = std::max(kind_w, v.model_kind.size());
  }
  const auto row = [&](const char* mark, const std::string& version, const std::string& created,
                       const std::string& kind, const std::string& rest) {
    std::printf("%s %-*s  %-*s  %-*s  %s\n", mark, static_cast<int>(version_w), version.c_str(),
                static_cast<int>(created_w), created.c_str(), static_cast<int>(kind_w), kind.c_str(),
                rest.c_str());
  };
  row(" ", "VERSION", "CREATED", "KIND", "METRICS");
  for (const auto& v : versions) {
    const std::string rest =
        v.manifest_status.ok() ? KeyMetrics(v.metrics) : StrCat("error: ", v.manifest_status.message());
    row(v.production ? "*" : " ", v.version, v.created_at, v.model_kind, rest);
  }
  return OkStatus();
}

// The audit log, oldest first: every promotion and rollback with its time and reason.
Status RunHistory(const std::string& root) {
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, OpenExisting(root));
  VREC_ASSIGN_OR_RETURN(std::vector<registry::HistoryEntry> entries, reg.History());
  if (entries.empty()) {
    std::printf("no promotions or rollbacks in %s\n", reg.root().c_str());
    return OkStatus();
  }
  size_t time_w = 4, from_w = 4;
  for (const auto& e : entries) {
    time_w = std::max(time_w, e.time.size());
    from_w = std::max(from_w, e.from.size());
  }
  const auto row = [&](const std::string& time, const std::string& action, const std::string& from,
                       const std::string& to, const std::string& reason) {
    std::printf("%-*s  %-8s  %-*s  %-7s  %s\n", static_cast<int>(time_w), time.c_str(), action.c_str(),
                static_cast<int>(from_w), from.c_str(), to.c_str(), reason.c_str());
  };
  row("TIME", "ACTION", "FROM", "TO", "REASON");
  for (const auto& e : entries) row(e.time, e.action, e.from.empty() ? "-" : e.from, e.to, e.reason);
  return OkStatus();
}

// Prints the production version after a change. Read back rather than predicted, so that what is
// printed is what servers will load.
Status PrintProduction(const registry::ModelRegistry& reg) {
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, reg.ProductionVersion());
  std::printf("production=%s\n", production ? production->c_str() : "none");
  return OkStatus();
}

struct ModelsFlags {
  std::string root;
  bool json = false;
  std::string version;
  std::string reason;
  double share = 0.05;
  bool shadow = false;
  std::string end;  // canary --end promote|rollback
};

// Prints the trial running (or "canary=none").
Status PrintCanary(const registry::ModelRegistry& reg) {
  VREC_ASSIGN_OR_RETURN(std::optional<registry::CanaryInfo> c, reg.Canary());
  if (!c) {
    std::printf("canary=none\n");
    return OkStatus();
  }
  std::printf("canary=%s share=%g shadow=%s baseline=%s started_at=%s\n", c->version.c_str(), c->share,
              c->shadow ? "true" : "false", c->baseline.c_str(), c->started_at.c_str());
  return OkStatus();
}

}  // namespace

// A version becomes production only if `vrec serve` can load it: the same loader, run in full
// (catalog, towers, index, ranker, derived state), before the pointer moves.
Status LoadsForServing(const std::string& version, const std::string& path) {
  std::fprintf(stderr, "models: loading %s the way vrec serve will...\n", version.c_str());
  auto model = serving::ServingModel::Load(path, version);
  if (!model.ok()) {
    return Status(
        model.status().code(),
        StrCat(version, " does not load for serving, production unchanged: ", model.status().message()));
  }
  // Every byte serving will map, checksummed: corruption is caught here, not by a request.
  if (Status s = (*model)->Verify(); !s.ok()) {
    return Status(s.code(), StrCat(version, " is corrupt, production unchanged: ", s.message()));
  }
  return OkStatus();
}

void AddModelsCommand(CLI::App& app, std::function<Status()>& run) {
  auto* models = app.add_subcommand(
      "models", "list, promote and roll back model versions in a registry; show its history");
  models->require_subcommand(1);
  const auto add_registry = [](CLI::App* cmd, ModelsFlags& f) {
    cmd->add_option("--registry", f.root, "model registry folder")->required();
  };

  auto list_flags = std::make_shared<ModelsFlags>();
  auto* list = models->add_subcommand("list", "list the versions; * marks the production version");
  add_registry(list, *list_flags);
  list->add_flag("--json", list_flags->json, "print a JSON array with every field and metric");
  list->callback(
      [&run, list_flags] { run = [list_flags] { return RunList(list_flags->root, list_flags->json); }; });

  auto history_flags = std::make_shared<ModelsFlags>();
  auto* history =
      models->add_subcommand("history", "every promotion and rollback, oldest first, with reasons");
  add_registry(history, *history_flags);
  history->callback(
      [&run, history_flags] { run = [history_flags] { return RunHistory(history_flags->root); }; });

  auto promote_flags = std::make_shared<ModelsFlags>();
  auto* promote = models->add_subcommand("promote", "make VERSION the version servers load");
  promote->add_option("version", promote_flags->version, "version to promote, e.g. v000003")->required();
  add_registry(promote, *promote_flags);
  promote->add_option("--reason", promote_flags->reason, "why, for the audit log (history.jsonl)");
  promote->callback([&run, promote_flags] {
    run = [f = promote_flags]() -> Status {
      VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, OpenExisting(f->root));
      VREC_RETURN_IF_ERROR(reg.Promote(f->version, f->reason, LoadsForServing));
      return PrintProduction(reg);
    };
  });

  auto canary_flags = std::make_shared<ModelsFlags>();
  auto* canary = models->add_subcommand(
      "canary",
      "try VERSION on a share of users beside production (vrec serve ends the trial by its canary policy); "
      "without VERSION, print the trial running; --end promote|rollback ends it by hand");
  canary->add_option("version", canary_flags->version, "version to try, e.g. v000003");
  add_registry(canary, *canary_flags);
  canary->add_option("--share", canary_flags->share, "share of users it serves (or requests it shadows)")
      ->check(CLI::Range(0.0001, 1.0));
  canary->add_flag("--shadow", canary_flags->shadow,
                   "score the share's requests with it too, serve production, log both lists");
  canary->add_option("--end", canary_flags->end, "end the running trial by hand")
      ->check(CLI::IsMember({"promote", "rollback"}));
  canary->add_option("--reason", canary_flags->reason, "why, for the audit log (history.jsonl)");
  canary->callback([&run, canary_flags] {
    run = [f = canary_flags]() -> Status {
      VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, OpenExisting(f->root));
      if (!f->end.empty()) {
        VREC_ASSIGN_OR_RETURN(std::optional<registry::CanaryInfo> c, reg.Canary());
        if (!c) return FailedPreconditionError("no canary trial is running");
        VREC_RETURN_IF_ERROR(
            reg.FinishCanary(c->version, f->end == "promote",
                             f->reason.empty() ? StrCat("ended by hand: ", f->end) : f->reason));
        VREC_RETURN_IF_ERROR(PrintProduction(reg));
        return PrintCanary(reg);
      }
      if (!f->version.empty()) {
        VREC_RETURN_IF_ERROR(reg.StartCanary(
            {.version = f->version, .share = f->share, .shadow = f->shadow, .reason = f->reason},
            LoadsForServing));
      }
      return PrintCanary(reg);
    };
  });

  auto rollback_flags = std::make_shared<ModelsFlags>();
  auto* rollback =
      models->add_subcommand("rollback", "return production to the version before the current one");
  add_registry(rollback, *rollback_flags);
  rollback->add_option("--reason", rollback_flags->reason, "why, for the audit log (history.jsonl)");
  rollback->callback([&run, rollback_flags] {
    run = [f = rollback_flags]() -> Status {
      VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, OpenExisting(f->root));
      VREC_RETURN_IF_ERROR(reg.Rollback(f->reason, LoadsForServing));
      return PrintProduction(reg);
    };
  });
}

}  // namespace vrec::app
