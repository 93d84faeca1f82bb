#include "engine/summary.hpp"

#include <algorithm>

#include "core/stats.hpp"

namespace greenbatch {

Summary summarize(const RunResult& r) {
  Summary s;
  s.requests = r.requests();
  s.completed = r.completed();
  s.batches = r.batches.size();
  if (s.completed == 0) return s;
  s.duration_s = ns_to_s(r.window_end_ns() - r.arrivals.front());
  s.avg_batch_size = static_cast<double>(s.completed) / static_cast<double>(s.batches);
  if (s.duration_s > 0) s.throughput_rps = static_cast<double>(s.completed) / s.duration_s;

  std::vector<double> lat;
  lat.reserve(s.completed);
  __int128 sum_ns = 0;  // exact: no rounding in the mean's numerator
  for (const BatchRecord& b : r.batches) {
    for (std::size_t i = b.first_request; i < b.first_request + b.size; ++i) {
      const TimeNs l = b.end_ns - r.arrivals[i];
      sum_ns += l;
      lat.push_back(ns_to_s(l));
    }
  }
  std::sort(lat.begin(), lat.end());
  const double mean_s = static_cast<double>(static_cast<long double>(sum_ns) / static_cast<long double>(lat.size()) / 1e9L);
  s.latency_s = {mean_s, percentile_sorted(lat, 50), percentile_sorted(lat, 90),
                 percentile_sorted(lat, 95),             percentile_sorted(lat, 99), lat.back()};

  std::vector<double> late;
  late.reserve(r.batches.size());
  for (const BatchRecord& b : r.batches) late.push_back(ns_to_s(b.late_ns));
  std::sort(late.begin(), late.end());
  s.dispatch_late_s = {percentile_sorted(late, 50), percentile_sorted(late, 99), late.back()};

  std::vector<double> service;
  service.reserve(r.batches.size());
  double service_sum = 0;
  for (const BatchRecord& b : r.batches) {
    service.push_back(ns_to_s(b.end_ns - b.start_ns));
    service_sum += service.back();
  }
  std::sort(service.begin(), service.end());
  s.service_s = {service_sum / static_cast<double>(service.size()), service.front(), percentile_sorted(service, 50),
                 percentile_sorted(service, 90), service.back()};
  return s;
}

}  // namespace greenbatch
