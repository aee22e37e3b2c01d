// The catalog of a model snapshot as artifact sections: users and videos with every attribute the
// online stages read, in columns, plus titles and tags as string tables that are read only on
// demand (video pages, explanations), never copied into the in-memory catalog.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/flat_array.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::snapshot {

// Strings stored as offsets (size n + 1) into one text blob.
class StringColumn {
 public:
  StringColumn() = default;
  StringColumn(FlatArray<uint64_t> offsets, std::string_view text, std::shared_ptr<const void> owner)
      : offsets_(std::move(offsets)), text_(text), owner_(std::move(owner)) {}
  // A column that owns copies of `strings`.
  static StringColumn FromStrings(const std::vector<std::string_view>& strings);
  size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  std::string_view operator[](size_t i) const {
    return text_.substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }

  // Writes `strings` as sections <name>.offsets and <name>.text.
  static Status Save(ArtifactWriter& out, std::string_view name,
                     const std::vector<std::string_view>& strings);
  // Maps them back. DataLoss when the offsets do not fit the text.
  static StatusOr<StringColumn> Load(const std::shared_ptr<const MappedArtifact>& in, std::string_view name);

 private:
  FlatArray<uint64_t> offsets_;
  std::string_view text_;
  std::shared_ptr<const void> owner_;
};

// Writes `catalog`'s users, videos and categories (not its interactions) as sections catalog.*.
Status SaveCatalog(ArtifactWriter& out, const data::Dataset& catalog);

// The catalog read back: a Dataset with users, videos (without titles and tags) and categories, and
// the titles and tags, mapped, by video index.
struct LoadedCatalog {
  data::Dataset dataset;
  StringColumn titles;          // by video index
  FlatArray<uint64_t> tag_ptr;  // video v's tags are tags[tag_ptr[v] .. tag_ptr[v + 1])
  StringColumn tags;
};
// Errors: NotFound / DataLoss naming the section when one is missing or inconsistent.
StatusOr<LoadedCatalog> LoadCatalog(const std::shared_ptr<const MappedArtifact>& in);

}  // namespace vrec::snapshot
