#include "vrec/serving/live_counters.h"

#include <utility>
#include <vector>

namespace vrec::serving {

features::CounterEvent CounterEventOf(const features::Event& e, float duration_s) {
  return {.user = e.user,
          .video = e.video,
          .time = e.time,
          .type = e.type,
          .watch_ratio = e.watch_ratio,
          .duration_s = duration_s};
}

LiveCounters::LiveCounters(std::shared_ptr<const features::CounterReader> base, uint64_t through_seq)
    : base_(std::move(base)), applied_(through_seq) {}

features::CounterValues LiveCounters::Video(VideoId video, int64_t as_of) const {
  features::CounterValues v = base_->Video(video, as_of);
  v += since_.Video(video, as_of);
  return v;
}

features::CounterValues LiveCounters::User(UserId user, int64_t as_of) const {
  features::CounterValues v = base_->User(user, as_of);
  v += since_.User(user, as_of);
  return v;
}

features::CounterValues LiveCounters::Platform(int64_t as_of) const {
  features::CounterValues v = base_->Platform(as_of);
  v += since_.Platform(as_of);
  return v;
}

Status LiveCounters::CatchUp(const features::FeatureStore& store, const DurationOf& duration) {
  constexpr size_t kPage = 4096;
  std::lock_guard lock(mu_);
  std::vector<std::pair<uint64_t, features::Event>> page;
  do {
    VREC_RETURN_IF_ERROR(store.ScanEvents(applied_, kPage, page));
    for (const auto& [seq, e] : page) {
      since_.Apply(CounterEventOf(e, duration(e.video)));
      applied_ = seq;
    }
  } while (page.size() == kPage);
  return OkStatus();
}

uint64_t LiveCounters::applied_through() const {
  std::lock_guard lock(mu_);
  return applied_;
}

}  // namespace vrec::serving
