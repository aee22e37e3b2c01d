#include "vrec/offline/platform_data.h"

#include <filesystem>
#include <unordered_set>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"
#include "vrec/data/generic_csv.h"
#include "vrec/events/segments.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;

}  // namespace

std::string PlatformData::Describe() const {
  std::string s =
      StrCat("platform: base ", base_version ? *base_version : std::string("(none)"), " through event ",
             base_through_seq, ", ", segments, " segments (", events_added, " events");
  if (duplicate_events > 0) s += StrCat(", ", duplicate_events, " duplicates skipped");
  s += StrCat(") through event ", through_seq, "; catalog updates: ", videos_replaced, " videos replaced, ",
              videos_added, " added, ", users_replaced, " users replaced, ", users_added, " added");
  return s;
}

StatusOr<PlatformData> LoadPlatformData(const PlatformSource& source) {
  PlatformData out;
  const std::string export_dir =
      source.export_dir.empty() ? (fs::path(source.registry) / "events").string() : source.export_dir;
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(source.registry));
  VREC_ASSIGN_OR_RETURN(out.base_version, reg.ProductionVersion());
  data::Dataset& ds = out.dataset;
  if (out.base_version) {
    const std::string path = reg.VersionPath(*out.base_version);
    VREC_ASSIGN_OR_RETURN(registry::Manifest manifest, registry::ReadManifest(path));
    VREC_ASSIGN_OR_RETURN(out.base_through_seq, ThroughSeqOf(manifest));
    const std::string catalog = (fs::path(path) / registry::kCatalogDir).string();
    std::error_code ec;
    if (!fs::is_directory(catalog, ec)) {
      return FailedPreconditionError(StrCat("production version ", *out.base_version,
                                            " has no catalog snapshot (", registry::kCatalogDir,
                                            "/) to train on"));
    }
    VREC_ASSIGN_OR_RETURN(ds, data::LoadGenericCsv(catalog));
  }
  out.through_seq = out.base_through_seq;

  // Catalog and user updates replace the snapshot's records by id and add new ones.
  const fs::path updates = fs::path(export_dir) / events::kCatalogExportDir;
  if (const std::string videos = data::FindDataFile(updates.string(), "videos.csv"); !videos.empty()) {
    const size_t before = ds.videos.size();
    VREC_RETURN_IF_ERROR(data::ReadVideosCsv(videos, ds, data::OnExistingId::kReplace, &out.videos_replaced));
    out.videos_added = ds.videos.size() - before;
  }
  if (const std::string users = data::FindDataFile(updates.string(), "users.csv"); !users.empty()) {
    const size_t before = ds.users.size();
    VREC_RETURN_IF_ERROR(data::ReadUsersCsv(users, ds, data::OnExistingId::kReplace, &out.users_replaced));
    out.users_added = ds.users.size() - before;
  }

  // The segments after the base, in sequence order.
  VREC_ASSIGN_OR_RETURN(std::vector<events::SegmentInfo> segments, events::ListSegments(export_dir));
  VREC_ASSIGN_OR_RETURN(uint64_t mark, events::ReadExportedThroughMark(export_dir));
  std::unordered_set<std::string> event_ids;
  uint64_t first_new = 0;  // first sequence of the first segment read
  for (const events::SegmentInfo& s : segments) {
    if (s.last_seq <= out.base_through_seq) continue;
    if (s.first_seq <= out.base_through_seq) {
      return FailedPreconditionError(StrCat(
          "segment ", s.path, " straddles the last event of ", out.base_version.value_or("the base"), " (",
          kThroughSeqParam, " = ", out.base_through_seq, "): was it trained from another export folder?"));
    }
    if (first_new == 0) first_new = s.first_seq;
    const size_t before = ds.interactions.size();
    VREC_RETURN_IF_ERROR(data::ReadInteractionsCsv(s.path, ds, event_ids, &out.duplicate_events));
    out.events_added += ds.interactions.size() - before;
    out.through_seq = s.last_seq;
    ++out.segments;
  }
  // Retention deleted segments after the base: their events never reach a model.
  const uint64_t missing_to = first_new == 0 ? mark : std::min(mark, first_new - 1);
  if (missing_to > out.base_through_seq) {
    out.warnings.push_back(
        StrCat("events ", out.base_through_seq + 1, "..", missing_to,
               " were deleted by retention (events.segment_retention) before a model was trained "
               "on them"));
    out.through_seq = std::max(out.through_seq, missing_to);
  }
  VREC_RETURN_IF_ERROR(ds.Validate());
  return out;
}

}  // namespace vrec::offline
