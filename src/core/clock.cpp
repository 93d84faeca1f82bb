#include "core/clock.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace greenbatch {

namespace {
long long steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

RealClock::RealClock(TimeNs min_spin_ns)
    : origin_ns_(steady_ns()), min_spin_ns_(min_spin_ns), spin_ns_(min_spin_ns + 50 * kNsPerUs) {
  // The default 50 us timer slack would make every sleep overshoot; ask for 1 ns.
  // Failure only costs precision, so the result is not checked.
  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
}

TimeNs RealClock::now() { return steady_ns() - origin_ns_; }

void RealClock::sleep_until(TimeNs t) {
  const TimeNs sleep_to = t - spin_ns_;
  if (now() < sleep_to) {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(origin_ns_ + sleep_to)));
    const double over = static_cast<double>(now() - sleep_to);
    oversleep_ns_ = std::max(over, oversleep_ns_ * 0.99);
    spin_ns_ = std::clamp(static_cast<TimeNs>(oversleep_ns_) + 20 * kNsPerUs, min_spin_ns_, 2 * kNsPerMs);
  }
  while (now() < t) {
    // spin for the last few microseconds
  }
}

}  // namespace greenbatch
