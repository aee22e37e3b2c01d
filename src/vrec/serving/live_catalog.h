// LiveCatalog: the catalog as it is now for one served model: the model's snapshot plus the
// videos and users the catalog API stored after it (PUT /v1/videos/{id}, PUT /v1/users/{id}). An
// upload is embedded by the model's video tower (from its content: categories, language,
// duration, title, tags) into a small exact "fresh" index searched beside the model's ANN index,
// so it can be recommended on the very next request; an update of a snapshot video replaces its
// fields (and its embedding); a takedown (available = false) is filtered like any unavailable
// video. New videos also join the cold-start fresh lists of their language.
//
// Owned by the service, one per served model (rebuilt from the store's records when a new model
// is swapped in). Thread-safe: Upsert takes an exclusive lock; Read returns a Reader holding a
// shared lock, under which the catalog view and the fresh index stay valid and unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/catalog_view.h"
#include "vrec/features/feature_store.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/serving/serving_model.h"

namespace vrec::serving {

// The record as a catalog video (categories by name mapped to indices of `catalog`, interning new
// names into `overlay`'s extra categories).
data::Video VideoFromRecord(const features::VideoRecord& record, const data::Dataset& base,
                            data::CatalogOverlay& overlay);

class LiveCatalog {
 public:
  explicit LiveCatalog(std::shared_ptr<const ServingModel> model);

  const ServingModel& model() const { return *model_; }
  const std::shared_ptr<const ServingModel>& model_ptr() const { return model_; }

  // Adds or replaces a video. Returns its dense index. Errors: Internal when the embedding cannot
  // be indexed (the catalog is then unchanged).
  StatusOr<uint32_t> Upsert(const features::VideoRecord& record);
  // Adds or replaces a user's profile. Returns its dense index.
  uint32_t Upsert(const features::UserRecord& record);

  class Reader {
   public:
    const data::CatalogView& catalog() const { return view_; }
    // Embeddings of the videos added or updated since the snapshot; null when there are none.
    const retrieval::AnnIndex* fresh_index() const { return fresh_; }
    // Videos added since the snapshot in `language` (any language when empty or when it has
    // none), newest upload first: the cold-start "fresh" list's head.
    std::vector<uint32_t> FreshUploads(std::string_view language, size_t limit) const;

   private:
    friend class LiveCatalog;
    Reader(const LiveCatalog& owner);
    std::shared_lock<std::shared_mutex> lock_;
    const LiveCatalog* owner_;
    data::CatalogView view_;
    const retrieval::AnnIndex* fresh_;
  };
  Reader Read() const { return Reader(*this); }

  // Videos added after the snapshot, and snapshot videos updated since.
  size_t added_videos() const;
  size_t updated_videos() const;

 private:
  std::shared_ptr<const ServingModel> model_;
  mutable std::shared_mutex mu_;
  data::CatalogOverlay overlay_;                // guarded by mu_
  std::unique_ptr<retrieval::AnnIndex> fresh_;  // guarded by mu_: exact, keyed by VideoId
  std::vector<uint32_t> uploads_by_time_;       // guarded by mu_: added videos, newest first
};

}  // namespace vrec::serving
