// FlatArray<T>: an immutable array that either owns its elements (a model fitted in this process)
// or views a section of a memory-mapped artifact (a model `vrec serve` mapped), so that one class
// can hold either without copying. Copies share the storage. Thread-safe to read.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace vrec {

template <typename T>
class FlatArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  FlatArray() = default;
  // Takes ownership of `elements`.
  explicit FlatArray(std::vector<T> elements) {
    auto owned = std::make_shared<const std::vector<T>>(std::move(elements));
    view_ = std::span<const T>(*owned);
    owner_ = std::move(owned);
  }
  // Views `elements`, which `owner` keeps alive (e.g. the MappedArtifact they live in).
  FlatArray(std::span<const T> elements, std::shared_ptr<const void> owner)
      : view_(elements), owner_(std::move(owner)) {}

  std::span<const T> span() const { return view_; }
  const T* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  const T& operator[](size_t i) const { return view_[i]; }
  auto begin() const { return view_.begin(); }
  auto end() const { return view_.end(); }

 private:
  std::span<const T> view_;
  std::shared_ptr<const void> owner_;
};

}  // namespace vrec
