#include "core/clock.hpp"

#include <sys/prctl.h>

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

RealClock::RealClock(TimeNs spin_ns) : origin_ns_(steady_ns()), spin_ns_(spin_ns) {
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
  }
  while (now() < t) {
    // spin for the last few microseconds
  }
}

}  // namespace greenbatch
