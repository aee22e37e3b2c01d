// Strong id types. External ids are what a platform's logs use (64-bit unsigned integers); a
// Dataset maps them to dense indices (uint32_t) for models and metrics.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace vrec {

template <typename Tag>
struct StrongId {
  uint64_t value = 0;
  constexpr auto operator<=>(const StrongId&) const = default;
};

struct UserIdTag {};
struct VideoIdTag {};
using UserId = StrongId<UserIdTag>;
using VideoId = StrongId<VideoIdTag>;

}  // namespace vrec

template <typename Tag>
struct std::hash<vrec::StrongId<Tag>> {
  size_t operator()(const vrec::StrongId<Tag>& id) const noexcept { return std::hash<uint64_t>{}(id.value); }
};
