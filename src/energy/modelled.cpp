#include "energy/modelled.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "energy/energy_math.hpp"

namespace greenbatch {

std::string ModelledMeter::spec() const { return fmt::format("modelled:idle={}W,busy={}W", idle_w_, busy_w_); }

void ModelledMeter::start(TimeNs now) {
  start_ns_ = now;
  live_floor_.reset();
}

std::optional<LiveEnergy> ModelledMeter::live(TimeNs now, TimeNs busy_ns, bool busy) {
  LiveEnergy e;
  const TimeNs window_ns = std::max<TimeNs>(now - start_ns_, 0);
  const double joules = idle_plus_busy_joules(idle_w_, window_ns, above_idle_j(std::max<TimeNs>(busy_ns, 0)));
  e.joules = live_floor_.raise(joules);
  e.power_w = busy ? busy_w_ : idle_w_;
  return e;
}

Energy ModelledMeter::stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) {
  Energy e;
  e.method = "modelled";
  e.measured = true;
  const TimeNs window_ns = now - start_ns_;
  const double dynamic_j = above_idle_j(busy_time_ns(batches));
  fill_totals(e, idle_plus_busy_joules(idle_w_, window_ns, dynamic_j), window_ns, images, dynamic_j);
  e.idle_power_w = idle_w_;
  if (!batches.empty()) {
    e.busy_power_w = busy_w_;
    e.peak_power_w = busy_w_;
  }
  // The power timeline: idle, a step up to busy power for each batch, and back.
  e.trace.push_back({0, idle_w_, idle_w_});
  for (const BatchRecord& b : batches) {
    const TimeNs s = b.start_ns - start_ns_, t = b.end_ns - start_ns_;
    e.trace.push_back({s, idle_w_, idle_w_});
    e.trace.push_back({s, busy_w_, busy_w_});
    e.trace.push_back({t, busy_w_, busy_w_});
    e.trace.push_back({t, idle_w_, idle_w_});
  }
  e.trace.push_back({window_ns, idle_w_, idle_w_});
  return e;
}

}  // namespace greenbatch
