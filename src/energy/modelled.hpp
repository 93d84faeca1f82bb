#pragma once
// A power model instead of a sensor: idle power over the whole window, busy power while a
// batch runs. Exact on the virtual clock; the simulator's meter.
#include "energy/meter.hpp"

namespace greenbatch {

class ModelledMeter final : public EnergyMeter {
 public:
  ModelledMeter(double idle_w, double busy_w) : idle_w_(idle_w), busy_w_(busy_w) {}
  std::string spec() const override;
  std::optional<double> measure_idle_w(TimeNs) override { return idle_w_; }
  void start(TimeNs now) override;
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return true; }
  // Idle power since start() plus busy power above it for busy_ns: stop()'s figure for the same
  // busy time; power is busy or idle power.
  std::optional<LiveEnergy> live(TimeNs now, TimeNs busy_ns, bool busy) override;

 private:
  // The energy above idle for `busy_ns` of batches (stop() and live() alike).
  double above_idle_j(TimeNs busy_ns) const { return (busy_w_ - idle_w_) * ns_to_s(busy_ns); }
  double idle_w_;
  double busy_w_;
  TimeNs start_ns_ = 0;
  LiveJoulesFloor live_floor_;
};

}  // namespace greenbatch
