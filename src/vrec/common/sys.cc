#include "vrec/common/sys.h"

#include <sys/resource.h>

namespace vrec {

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB.
}

}  // namespace vrec
