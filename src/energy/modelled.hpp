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
  void start(TimeNs now) override { start_ns_ = now; }
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return true; }

 private:
  double idle_w_;
  double busy_w_;
  TimeNs start_ns_ = 0;
};

}  // namespace greenbatch
