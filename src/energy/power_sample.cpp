#include "energy/power_sample.hpp"

#include <algorithm>

namespace greenbatch {

double integrate_samples(const std::vector<PowerSample>& s, TimeNs from_ns, TimeNs to_ns, bool instant) {
  if (s.empty() || to_ns <= from_ns) return 0.0;
  auto value = [instant](const PowerSample& p) { return instant ? p.instant_w : p.power_w; };
  double joules = 0;
  TimeNs prev_t = from_ns;
  double prev_v = value(s.front());
  for (const PowerSample& p : s) {
    const TimeNs t = std::min(std::max(p.t_ns, from_ns), to_ns);
    const double v = value(p);
    joules += (prev_v + v) / 2 * ns_to_s(t - prev_t);
    prev_t = t;
    prev_v = v;
  }
  joules += prev_v * ns_to_s(to_ns - prev_t);
  return joules;
}

}  // namespace greenbatch
