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

void request_fine_timer_slack() { (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); }

void SpinMargin::observe(TimeNs overslept_ns) {
  oversleep_ns_ = std::max(static_cast<double>(overslept_ns), oversleep_ns_ * 0.99);
  margin_ns_ = std::clamp(static_cast<TimeNs>(oversleep_ns_) + 20 * kNsPerUs, min_ns_, max_ns_);
}

RealClock::RealClock(TimeNs min_spin_ns) : origin_ns_(steady_ns()), margin_(min_spin_ns) { request_fine_timer_slack(); }

TimeNs RealClock::now() { return steady_ns() - origin_ns_; }

void RealClock::sleep_until(TimeNs t) {
  const TimeNs sleep_to = t - margin_.ns();
  if (now() < sleep_to) {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(origin_ns_ + sleep_to)));
    margin_.observe(now() - sleep_to);
  }
  while (now() < t) {
    // spin for the last few microseconds
  }
}

}  // namespace greenbatch
