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

// steady_clock, origin at construction. sleep_until sleeps to within `spin_ns` of the target,
// then spins, so that wake-ups land within microseconds (timer slack is set to 1 ns).
class RealClock final : public Clock {
 public:
  explicit RealClock(TimeNs spin_ns = 60 * kNsPerUs);
  TimeNs now() override;
  void sleep_until(TimeNs t) override;
  bool is_virtual() const override { return false; }
  const char* name() const override { return "real"; }

 private:
  long long origin_ns_;
  TimeNs spin_ns_;
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
