#include "load/summary.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/stats.hpp"

namespace greenbatch::load {

LoadSummary summarize_load(std::span<const RequestRecord> records, TimeNs window_ns) {
  LoadSummary out;
  Summary& s = out.summary;
  LoadFigures& f = out.figures;
  s.requests = records.size();
  std::vector<double> latency, late;
  __int128 latency_sum_ns = 0;
  TimeNs first_sent = -1, last_sent = -1, last_done = -1;
  for (const RequestRecord& r : records) {
    switch (r.outcome) {
      case Outcome::kHttp:
        if (r.status >= 200 && r.status < 300) {
          ++f.statuses.s2xx;
          latency_sum_ns += r.done - r.scheduled;
          latency.push_back(ns_to_s(r.done - r.scheduled));
        } else if (r.status >= 400 && r.status < 500) {
          ++f.statuses.s4xx;
        } else if (r.status >= 500 && r.status < 600) {
          ++f.statuses.s5xx;
        } else {
          ++f.statuses.other;
        }
        break;
      case Outcome::kTimeout: ++f.statuses.timeout; break;
      case Outcome::kConnectionError:
      case Outcome::kPending: ++f.statuses.connection_error; break;  // pending never comes back; counted, not dropped
    }
    if (r.sent >= 0) {
      ++f.sent;
      late.push_back(ns_to_s(r.sent - r.scheduled));
      first_sent = first_sent < 0 ? r.sent : std::min(first_sent, r.sent);
      last_sent = std::max(last_sent, r.sent);
    }
    last_done = std::max(last_done, r.done);
  }
  s.completed = latency.size();
  if (!records.empty() && last_done >= 0) s.duration_s = ns_to_s(last_done - records.front().scheduled);
  if (s.duration_s > 0) s.throughput_rps = static_cast<double>(s.completed) / s.duration_s;
  if (!latency.empty()) {
    static constexpr double kQs[] = {50, 90, 95, 99, 100};
    const auto q = percentiles_unsorted(latency, kQs);
    const double mean_s = static_cast<double>(static_cast<long double>(latency_sum_ns) /
                                              static_cast<long double>(s.completed) / 1e9L);
    s.latency_s = {mean_s, q[0], q[1], q[2], q[3], q[4]};
  }
  if (!late.empty()) {
    static constexpr double kQs[] = {50, 99, 100};
    const auto q = percentiles_unsorted(late, kQs);
    f.send_late_s = LatenessSummary{q[0], q[1], q[2]};
  }
  if (window_ns > 0 && !records.empty()) {
    std::vector<TimeNs> scheduled;
    std::vector<double> ok;
    for (const RequestRecord& r : records) {
      scheduled.push_back(r.scheduled);
      const bool answered = r.outcome == Outcome::kHttp && r.status >= 200 && r.status < 300;
      ok.push_back(answered ? ns_to_s(r.done - r.scheduled) : std::numeric_limits<double>::quiet_NaN());
    }
    s.windows = latency_windows(scheduled, ok, window_ns);
  }
  if (f.sent >= 2 && last_sent > first_sent) {
    f.achieved_rate_hz = static_cast<double>(f.sent - 1) / ns_to_s(last_sent - first_sent);
  }
  return out;
}

}  // namespace greenbatch::load
