// The model registry: a local filesystem store of immutable model versions and the production
// pointer that servers load from. It replaces the S3 model store + hosted registry of the original
// design; everything is plain files so that an operator can inspect it with ls and cat.
//
// Layout under the root folder:
//   versions/v000001/ ...   committed versions: immutable (files 0444, folders 0555), each with a
//                           top-level manifest.json (see manifest.h) beside the pipeline's files
//   staging/<name>/         folders handed out by BeginVersion, being filled by a pipeline;
//                           BeginVersion removes those untouched for a day (left by a crashed run)
//   production              the production pointer: line 1 is the production version, the following
//                           lines are the earlier production versions, newest first, that Rollback
//                           returns to (the rollback stack). Replaced atomically by rename.
//   history.jsonl           append-only audit log, one JSON object a line:
//                           {"time","action":"promote"|"rollback","from","to","reason"}
//   LOCK                    flock(2) target that serialises writers across processes and threads
//   canary                  the version on trial, when one is (StartCanary): JSON {version, share,
//                           shadow, baseline, started_at, started_unix, reason}; replaced by rename
//   runs/<run id>.json      one record per pipeline run, whatever its outcome (offline/pipeline.h
//                           writes them; run ids start with their UTC start time, so they sort)
//
// Rollback semantics. Production changes form a stack: Promote(X) pushes X (unless X already is
// production, which is a no-op); Rollback pops the current version and returns to the one below
// it, skipping versions whose folders have been deleted since. So A -> B -> C, Rollback -> B,
// Rollback -> A, Rollback -> FailedPrecondition. Rollback undoes the most recent change: after
// A -> B -> C -> promote A, Rollback returns to C. The stack lives in the pointer file itself (not
// only in history.jsonl) so that one atomic rename changes both the version and the stack: a crash
// can lose at most the audit line of the last change, never the consistency of the pointer. The
// stack keeps the last kMaxRollbackDepth versions.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::registry {

// How many earlier production versions the pointer remembers for Rollback.
inline constexpr size_t kMaxRollbackDepth = 256;

// One committed version as List reports it.
struct VersionInfo {
  std::string version;                    // "v000003"
  std::string path;                       // root/versions/v000003
  std::string created_at;                 // from the manifest (UTC, ISO 8601)
  std::string model_kind;                 // from the manifest
  std::map<std::string, double> metrics;  // from the manifest
  bool production = false;                // the production pointer names this version
  // Not OK when the manifest cannot be read (then created_at, model_kind and metrics are empty):
  // List still reports such a version so that an operator sees it.
  Status manifest_status;
};

// A version on trial beside production (StartCanary).
struct CanaryInfo {
  std::string version;
  // Share of users it serves, in (0, 1]; with `shadow`, the share of requests it also scores
  // without serving them.
  double share = 0.05;
  bool shadow = false;
  std::string baseline;      // the production version when the trial started
  std::string started_at;    // UTC, ISO 8601
  int64_t started_unix = 0;  // unix seconds
  std::string reason;
};

// One line of history.jsonl.
struct HistoryEntry {
  std::string time;  // UTC, ISO 8601
  // "promote", "rollback", "canary" (a trial started: from production to the candidate),
  // "canary_rollback" (a trial ended without promotion; a trial that passes ends with "promote")
  std::string action;
  std::string from;    // the production version before; empty when there was none
  std::string to;      // the production version after
  std::string reason;  // free text given by the operator or pipeline
};

// A model registry rooted at a local folder (see the layout above).
//
// A ModelRegistry holds only the root path: it is cheap to copy, and any number of instances, in
// any number of processes, may work on the same root. All state is on disk.
//
// Thread safety: every method may be called concurrently from any thread and process. Readers
// (List, ProductionVersion, History) take no lock: they see either the state before or after a
// concurrent writer, because the pointer is replaced by rename. Writers (CommitVersion, Promote,
// Rollback) are serialised by an exclusive flock on root/LOCK, which blocks until other writers
// finish. BeginVersion needs no lock.
//
// The registry assumes root/ is on a local filesystem (rename and flock semantics; not NFS).
class ModelRegistry {
 public:
  // Opens the registry at `root`, creating the folders and files of the layout that are missing
  // (root itself too). A production.tmp left by a writer that crashed is removed when no writer
  // holds the lock. Success: a registry for `root`. InvalidArgument when `root` is empty;
  // Internal when the layout cannot be created (permissions, `root` is a file, ...).
  // Safe to call concurrently with writers on the same root.
  static StatusOr<ModelRegistry> Open(std::string root);

  const std::string& root() const { return root_; }

  // Creates a fresh, empty folder under root/staging/ for a pipeline to fill with a model and its
  // manifest.json, then hand to CommitVersion. Success: its path. Internal on I/O errors.
  // Safe to call concurrently; every call gets a distinct folder. Also removes abandoned staging
  // folders (RemoveAbandonedStaging with kAbandonedStagingAge), best effort.
  StatusOr<std::string> BeginVersion() const;

  // A pipeline fills its staging folder in seconds to minutes, right before committing it; one
  // untouched for this long was left by a run that died first.
  static constexpr std::chrono::hours kAbandonedStagingAge{24};
  // Removes the staging folders whose last modification is older than `age`. Success: how many
  // were removed. Internal on I/O errors (folders removed before the error stay removed).
  StatusOr<int> RemoveAbandonedStaging(std::chrono::seconds age) const;

  // Turns a filled staging folder into the next version: checks that it holds a readable
  // manifest.json, fsyncs every file and folder in it, renames it to root/versions/<version>
  // (atomic: the version appears complete or not at all), makes it read-only (best effort: a
  // safeguard, root ignores it) and fsyncs the parent folders. Versions are "v" + a 6-digit counter, one
  // above the highest ever used in versions/, the pointer and history.jsonl, so a deleted version's name is
  // not reused. Success: the new version name; `staging_dir` no longer exists. NotFound when `staging_dir`
  // does not exist; InvalidArgument when it is not a folder directly under root/staging/ or holds a symbolic
  // link (a version must be self-contained); the errors of ReadManifest (NotFound when there is no
  // manifest.json, DataLoss, FailedPrecondition) when the manifest does not read; Internal on I/O errors. On
  // error the staging folder is left as it was. Thread safety: serialised with other writers by the lock;
  // concurrent commits get distinct names.
  StatusOr<std::string> CommitVersion(const std::string& staging_dir) const;

  // Every committed version, sorted by version number, with its manifest's fields and whether it
  // is in production. Success: the list (empty for a new registry). DataLoss when the production
  // pointer is corrupt; Internal when root/versions cannot be read. A version whose manifest does
  // not read is listed with a non-OK manifest_status rather than failing the whole list.
  // Thread safety: lock-free reader; safe concurrently with writers.
  StatusOr<std::vector<VersionInfo>> List() const;

  // The version servers should load. Success: the version, or nullopt when nothing was ever
  // promoted. DataLoss when the pointer file is corrupt (it is only ever replaced by rename, so
  // this means it was edited by hand); Internal on I/O errors. Does not check that the version's
  // folder still exists: a server loading it reports that.
  // Thread safety: lock-free reader; safe concurrently with writers, cheap enough to poll.
  StatusOr<std::optional<std::string>> ProductionVersion() const;

  // The production pointer as a list: the production version first, then the versions Rollback
  // would return to, newest first. Empty when nothing was ever promoted. Errors as
  // ProductionVersion. Thread safety: lock-free reader.
  StatusOr<std::vector<std::string>> ProductionStack() const;

  // Checks that a version is fit to become production before the pointer moves to it (the CLI
  // passes serving's own model loader). Called with the version name and its folder; any error
  // is returned by Promote/Rollback unchanged, with the pointer untouched.
  using VersionValidator = std::function<Status(const std::string& version, const std::string& path)>;

  // root/versions/<version>. Does not check that it exists.
  std::string VersionPath(const std::string& version) const;

  // Makes `version` production and appends a "promote" line to history.jsonl. The pointer is
  // written to root/production.tmp, fsynced, renamed over root/production and the root folder
  // fsynced: a crash leaves either the old or the new pointer. Promoting the version already in
  // production changes nothing and logs nothing.
  // Success: OK. InvalidArgument when `version` is not of the form v000123; NotFound when no such
  // version exists; the errors of ReadManifest when its manifest does not read (DataLoss, ...);
  // DataLoss when the current pointer is corrupt; Internal on I/O errors. On error the pointer is
  // unchanged, except for an Internal error whose message says that only the audit line could not
  // be appended (the promotion has then taken effect).
  // Thread safety: serialised with other writers by the lock.
  // When `validate` is given it runs (under the writer lock, so the pointer cannot move meanwhile)
  // after the manifest check and before the pointer is written.
  Status Promote(const std::string& version, const std::string& reason,
                 const VersionValidator& validate = {}) const;

  // Returns production to the version that was production before the current one (see the
  // semantics at the top of this file) and appends a "rollback" line to history.jsonl. Atomic
  // like Promote.
  // Success: OK. FailedPrecondition when nothing is in production or no earlier version still
  // exists (the pointer is then unchanged); DataLoss when the pointer is corrupt; Internal on I/O
  // errors (as for Promote, an Internal error about the audit line means the rollback happened).
  // Thread safety: serialised with other writers by the lock.
  // When `validate` is given, the version rolled back to must pass it first.
  Status Rollback(const std::string& reason, const VersionValidator& validate = {}) const;

  // The audit log, oldest first. A torn last line (a crash during an append) is skipped.
  // Success: the entries (empty for a new registry). Internal when history.jsonl cannot be read.
  // Thread safety: lock-free reader; safe concurrently with writers.
  StatusOr<std::vector<HistoryEntry>> History() const;

  // Starts a trial of `canary.version` (share, shadow and reason as given; baseline and start time
  // are filled in) beside production, replacing a trial already running. The version must be
  // committed, not be production, and pass `validate` (as Promote). Errors: InvalidArgument for a
  // bad name or a share outside (0, 1]; NotFound; FailedPrecondition when nothing is in production
  // or the version already is; Internal on I/O errors. Thread safety: serialised by the lock.
  Status StartCanary(CanaryInfo canary, const VersionValidator& validate = {}) const;
  // The trial running, or nullopt. DataLoss when the canary file is corrupt. Lock-free reader.
  StatusOr<std::optional<CanaryInfo>> Canary() const;
  // Ends the trial of `version` (only if it is still the one running: NotFound otherwise, so that
  // two deciders cannot end a newer trial): `promote` makes it production (history "promote"),
  // otherwise history "canary_rollback"; `reason` goes into the history either way.
  Status FinishCanary(const std::string& version, bool promote, const std::string& reason) const;

  // Where the record of pipeline run `run_id` goes.
  std::string RunRecordPath(const std::string& run_id) const;

  // The newest `max` run records, newest first, as the files' text (JSON written by the pipeline;
  // the caller parses it). Success: the records (empty when none). Internal when the folder
  // cannot be listed. Thread safety: lock-free reader (records are written by rename).
  StatusOr<std::vector<std::string>> RecentRuns(size_t max) const;

 private:
  explicit ModelRegistry(std::string root) : root_(std::move(root)) {}

  std::string root_;
};

// `versions` as a JSON array of objects {version, path, production, created_at, model_kind,
// metrics, error (only when the manifest does not read)}, for `vrec models list --json`.
std::string VersionInfosToJson(const std::vector<VersionInfo>& versions);

}  // namespace vrec::registry
