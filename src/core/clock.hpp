#pragma once
// The engine's only source of time. RealClock follows std::chrono::steady_clock;
// VirtualClock jumps, which turns the same engine into a discrete-event simulator.
#include <algorithm>

#include "core/time.hpp"

namespace greenbatch {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeNs now() = 0;
  // Returns at `t` or (real clock) as soon after as the machine allows. Never earlier.
  virtual void sleep_until(TimeNs t) = 0;
  virtual bool is_virtual() const = 0;
  virtual const char* name() const = 0;
};

// Asks the kernel to wake this thread's timed sleeps within 1 ns of their deadline instead of the
// default 50 us timer slack. Failure only costs precision, so it is not reported.
void request_fine_timer_slack();

// How far before a deadline to stop sleeping and start spinning, learnt from the machine: the
// largest recent oversleep (a decaying maximum) plus 20 us, between a floor and a ceiling (2 ms
// unless told). On a quiet
// machine that is about 60 us; on a virtual machine whose sleeps overshoot by 100+ us it grows
// to match. Whoever sleeps reports each wake-up's lateness with observe().
class SpinMargin {
 public:
  explicit SpinMargin(TimeNs min_ns = 50 * kNsPerUs, TimeNs max_ns = 2 * kNsPerMs)
      : min_ns_(min_ns), max_ns_(max_ns), margin_ns_(std::min(min_ns + 50 * kNsPerUs, max_ns)) {}
  TimeNs ns() const { return margin_ns_; }
  // A sleep meant to end at some time ended `overslept_ns` after it.
  void observe(TimeNs overslept_ns);

 private:
  TimeNs min_ns_;
  TimeNs max_ns_;
  TimeNs margin_ns_;
  double oversleep_ns_ = 0;  // decaying maximum of observed oversleeps
};

// steady_clock, origin at construction. sleep_until sleeps to a SpinMargin before the target,
// then spins, so that wake-ups land within microseconds (timer slack is set to 1 ns).
class RealClock final : public Clock {
 public:
  explicit RealClock(TimeNs min_spin_ns = 50 * kNsPerUs);
  TimeNs now() override;
  void sleep_until(TimeNs t) override;
  bool is_virtual() const override { return false; }
  const char* name() const override { return "real"; }
  TimeNs spin_margin_ns() const { return margin_.ns(); }

 private:
  long long origin_ns_;
  SpinMargin margin_;
};

// Starts at 0; sleep_until jumps forward (never backward); advance() is for backends that
// "take" time.
class VirtualClock final : public Clock {
 public:
  TimeNs now() override { return now_; }
  void sleep_until(TimeNs t) override {
    if (t > now_) now_ = t;
  }
  void advance(TimeNs d) { now_ += d; }
  bool is_virtual() const override { return true; }
  const char* name() const override { return "virtual"; }

 private:
  TimeNs now_ = 0;
};

}  // namespace greenbatch
