#pragma once
// The engine's only source of time. RealClock follows std::chrono::steady_clock;
// VirtualClock jumps, which turns the same engine into a discrete-event simulator.
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

// steady_clock, origin at construction. sleep_until sleeps to a margin before the target, then
// spins, so that wake-ups land within microseconds (timer slack is set to 1 ns). The margin
// adapts to the machine: it follows the largest recent oversleep (a decaying maximum) plus
// 20 us, between `min_spin_ns` and 2 ms. On a quiet machine that is about 60 us; on a
// virtual machine whose sleeps overshoot by 100+ us it grows to match.
class RealClock final : public Clock {
 public:
  explicit RealClock(TimeNs min_spin_ns = 50 * kNsPerUs);
  TimeNs now() override;
  void sleep_until(TimeNs t) override;
  bool is_virtual() const override { return false; }
  const char* name() const override { return "real"; }
  TimeNs spin_margin_ns() const { return spin_ns_; }

 private:
  long long origin_ns_;
  TimeNs min_spin_ns_;
  TimeNs spin_ns_;
  double oversleep_ns_ = 0;  // decaying maximum of observed oversleeps
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
