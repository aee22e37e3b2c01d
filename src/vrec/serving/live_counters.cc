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

LiveCounters::LiveCounters(std::unique_ptr<features::EngagementCounters> base, uint64_t through_seq)
    : counters_(std::move(base)), applied_(through_seq) {}

Status LiveCounters::CatchUp(const features::FeatureStore& store, const DurationOf& duration) {
  constexpr size_t kPage = 4096;
  std::lock_guard lock(mu_);
  std::vector<std::pair<uint64_t, features::Event>> page;
  do {
    VREC_RETURN_IF_ERROR(store.ScanEvents(applied_, kPage, page));
    for (const auto& [seq, e] : page) {
      counters_->Apply(CounterEventOf(e, duration(e.video)));
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
