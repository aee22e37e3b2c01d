#include "vrec/common/progress.h"

#include <gtest/gtest.h>

namespace vrec {
namespace {

TEST(FormatDuration, PicksAUnitForTheMagnitude) {
  EXPECT_EQ(FormatDuration(0.25), "250ms");
  EXPECT_EQ(FormatDuration(42.34), "42.3s");
  EXPECT_EQ(FormatDuration(250), "4m10s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressLine, EstimatesTheRemainingTimeFromTheAverageSoFar) {
  // 40% done in 4 s: 6 s to go.
  EXPECT_EQ(Progress::Line("eval", 400, 1000, 4.0, "users"), "eval:  40% 400/1000 users 4.0s eta 6.0s");
  // Nothing done yet, or all done: no estimate.
  EXPECT_EQ(Progress::Line("eval", 0, 1000, 4.0), "eval:   0% 0/1000 4.0s");
  EXPECT_EQ(Progress::Line("train", 30, 30, 90.0, "epochs"), "train: 100% 30/30 epochs 1m30s");
  // 100% only at the end.
  EXPECT_EQ(Progress::Line("synth", 9957, 10000, 17.0), "synth:  99% 9957/10000 17.0s eta 73ms");
}

}  // namespace
}  // namespace vrec
