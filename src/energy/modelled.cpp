#include "energy/modelled.hpp"

#include <fmt/format.h>

namespace greenbatch {

std::string ModelledMeter::spec() const { return fmt::format("modelled:idle={}W,busy={}W", idle_w_, busy_w_); }

Energy ModelledMeter::stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) {
  Energy e;
  e.method = "modelled";
  e.measured = true;
  const TimeNs window_ns = now - start_ns_;
  TimeNs busy_ns = 0;
  for (const BatchRecord& b : batches) busy_ns += b.end_ns - b.start_ns;
  e.window_s = ns_to_s(window_ns);
  const double dynamic_j = (busy_w_ - idle_w_) * ns_to_s(busy_ns);
  e.joules = idle_w_ * e.window_s + dynamic_j;
  e.idle_power_w = idle_w_;
  if (images > 0) {
    e.per_image_j = *e.joules / static_cast<double>(images);
    e.dynamic_per_image_j = dynamic_j / static_cast<double>(images);
  }
  if (window_ns > 0) e.avg_power_w = *e.joules / e.window_s;
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
