#include "vrec/common/sys.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace vrec {
namespace {

int ThreadNice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))); }

TEST(ThreadPriority, LowerAndIdleApplyToTheCallingThreadOnly) {
  const int before = ThreadNice();
  const int policy = sched_getscheduler(0);
  std::thread([&] {
    ASSERT_TRUE(LowerThreadPriority(3));
    EXPECT_EQ(ThreadNice(), std::min(19, before + 3));
    ASSERT_TRUE(MakeThreadIdlePriority());
    EXPECT_EQ(sched_getscheduler(0), SCHED_IDLE);
  }).join();
  EXPECT_EQ(ThreadNice(), before);
  EXPECT_EQ(sched_getscheduler(0), policy);
}

}  // namespace
}  // namespace vrec
