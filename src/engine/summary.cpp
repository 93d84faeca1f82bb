#include "engine/summary.hpp"

#include <algorithm>
#include <cmath>

#include "core/stats.hpp"

namespace greenbatch {

double latency_figure(const LatencySummary& s, LatencyFigure f) {
  switch (f) {
    case LatencyFigure::kMean: return s.mean;
    case LatencyFigure::kP50: return s.p50;
    case LatencyFigure::kP90: return s.p90;
    case LatencyFigure::kP95: return s.p95;
    case LatencyFigure::kP99: return s.p99;
    case LatencyFigure::kMax: return s.max;
  }
  return s.max;
}

std::vector<WindowSummary> latency_windows(std::span<const TimeNs> arrivals, std::span<const double> latency_s,
                                           TimeNs window_ns) {
  std::vector<WindowSummary> out;
  if (arrivals.empty() || window_ns <= 0) return out;
  const TimeNs t0 = arrivals.front();
  const TimeNs last = arrivals.back() - t0;
  const std::size_t count = static_cast<std::size_t>(last / window_ns) + 1;
  out.resize(count);
  std::vector<std::vector<double>> in(count);
  for (std::size_t i = 0; i < arrivals.size() && i < latency_s.size(); ++i) {
    if (!std::isnan(latency_s[i])) in[static_cast<std::size_t>((arrivals[i] - t0) / window_ns)].push_back(latency_s[i]);
  }
  static constexpr double kQs[] = {99, 100};
  for (std::size_t k = 0; k < count; ++k) {
    WindowSummary& w = out[k];
    const TimeNs start = static_cast<TimeNs>(k) * window_ns;
    w.t_s = ns_to_s(start);
    w.requests = in[k].size();
    const TimeNs len = k + 1 < count ? window_ns : std::max<TimeNs>(1, last - start);
    w.rate_hz = static_cast<double>(w.requests) / ns_to_s(len);
    if (!in[k].empty()) {
      const auto q = percentiles_unsorted(in[k], kQs);
      w.p99_s = q[0];
      w.max_s = q[1];
    }
  }
  return out;
}

namespace {

// The run's windows: the completed requests' latencies, and the batches by dispatch time.
std::vector<WindowSummary> windows_of(const RunResult& r, const std::vector<double>& lat, TimeNs window_ns) {
  const std::span<const TimeNs> arrivals(r.arrivals.data(), lat.size());
  std::vector<WindowSummary> out = latency_windows(arrivals, lat, window_ns);
  if (out.empty()) return out;
  const TimeNs t0 = r.arrivals.front();
  std::vector<std::size_t> items(out.size(), 0);
  for (const BatchRecord& b : r.batches) {
    const auto k = static_cast<std::size_t>(
        std::clamp<TimeNs>((b.start_ns - t0) / window_ns, 0, static_cast<TimeNs>(out.size() - 1)));
    ++out[k].batches;
    items[k] += b.size;
  }
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (out[k].batches) out[k].avg_batch = static_cast<double>(items[k]) / static_cast<double>(out[k].batches);
  }
  return out;
}

}  // namespace

Summary summarize(const RunResult& r, TimeNs window_ns) {
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
  const double mean_s = static_cast<double>(static_cast<long double>(sum_ns) / static_cast<long double>(lat.size()) / 1e9L);
  if (window_ns > 0) s.windows = windows_of(r, lat, window_ns);
  // Selection, not a sort: a tune summarises thousands of simulated runs.
  static constexpr double kLatencyQs[] = {50, 90, 95, 99, 100};
  const auto lq = percentiles_unsorted(lat, kLatencyQs);
  s.latency_s = {mean_s, lq[0], lq[1], lq[2], lq[3], lq[4]};

  std::vector<double> late;
  late.reserve(r.batches.size());
  for (const BatchRecord& b : r.batches) late.push_back(ns_to_s(b.late_ns));
  static constexpr double kLateQs[] = {50, 99, 100};
  const auto dq = percentiles_unsorted(late, kLateQs);
  s.dispatch_late_s = {dq[0], dq[1], dq[2]};

  std::vector<double> service;
  service.reserve(r.batches.size());
  double service_sum = 0;
  for (const BatchRecord& b : r.batches) {
    service.push_back(ns_to_s(b.end_ns - b.start_ns));
    service_sum += service.back();
  }
  static constexpr double kServiceQs[] = {0, 50, 90, 100};
  const auto sq = percentiles_unsorted(service, kServiceQs);
  s.service_s = {service_sum / static_cast<double>(service.size()), sq[0], sq[1], sq[2], sq[3]};

  // Preparation of the completed requests' inputs.
  std::vector<double> prep;
  double prep_sum = 0;
  for (std::size_t i = 0; i < s.completed && i < r.prepare_ns.size(); ++i) {
    if (r.prepare_ns[i] <= 0) continue;
    prep.push_back(ns_to_s(r.prepare_ns[i]));
    prep_sum += prep.back();
  }
  if (!prep.empty()) {
    static constexpr double kPrepQs[] = {50, 99, 100};
    const auto pq = percentiles_unsorted(prep, kPrepQs);
    s.prepare_s = PrepareSummary{prep_sum / static_cast<double>(prep.size()), pq[0], pq[1], pq[2]};
  }
  return s;
}

}  // namespace greenbatch
