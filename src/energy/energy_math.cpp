#include "energy/energy_math.hpp"

#include <algorithm>

namespace greenbatch {

TimeNs busy_time_ns(std::span<const BatchRecord> batches) {
  TimeNs busy_ns = 0;
  for (const BatchRecord& b : batches) busy_ns += b.end_ns - b.start_ns;
  return busy_ns;
}

AboveIdle above_idle(std::span<const BatchRecord> batches, const std::function<double(std::size_t size)>& power_w) {
  AboveIdle a;
  for (const BatchRecord& b : batches) {
    const double d = ns_to_s(b.end_ns - b.start_ns);
    a.joules += power_w(b.size) * d;
    a.busy_s += d;
  }
  return a;
}

double idle_plus_busy_joules(double idle_w, TimeNs window_ns, double dynamic_j) {
  return idle_w * ns_to_s(window_ns) + dynamic_j;
}

double above_idle_joules(double joules, double idle_w, TimeNs window_ns) {
  return joules - idle_w * ns_to_s(window_ns);
}

void fill_totals(Energy& e, double joules, TimeNs window_ns, std::size_t images, std::optional<double> dynamic_j) {
  e.window_s = ns_to_s(window_ns);
  e.joules = joules;
  if (images > 0) {
    e.per_image_j = joules / static_cast<double>(images);
    if (dynamic_j) e.dynamic_per_image_j = *dynamic_j / static_cast<double>(images);
  }
  if (window_ns > 0) e.avg_power_w = joules / e.window_s;
}

BusyPower busy_and_peak(std::span<const PowerSample> samples, std::span<const BatchRecord> batches) {
  double busy_sum = 0, peak = 0;
  std::size_t busy_n = 0;
  std::size_t b = 0;
  for (const PowerSample& s : samples) {
    while (b < batches.size() && batches[b].end_ns < s.t_ns) ++b;
    if (b < batches.size() && batches[b].start_ns <= s.t_ns) {
      busy_sum += s.power_w;
      peak = std::max(peak, std::max(s.power_w, s.instant_w));
      ++busy_n;
    }
  }
  BusyPower p;
  p.samples = busy_n;
  if (busy_n > 0) {
    p.busy_w = busy_sum / static_cast<double>(busy_n);
    p.peak_w = peak;
  }
  return p;
}

Energy::CrossCheck cross_check(std::string method, double other_j, double joules, std::size_t images,
                               std::optional<double> instant_j) {
  Energy::CrossCheck cc;
  cc.method = std::move(method);
  cc.instant_joules = instant_j;
  cc.joules = other_j;
  if (images > 0) cc.per_image_j = other_j / static_cast<double>(images);
  if (joules > 0) cc.difference_pct = (other_j - joules) / joules * 100;
  return cc;
}

}  // namespace greenbatch
