#pragma once
// Pure functions from a RunResult to the numbers people read.
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "core/latency_target.hpp"
#include "engine/engine.hpp"

namespace greenbatch {

struct LatencySummary {
  double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;  // seconds
};

// One figure of a latency summary.
double latency_figure(const LatencySummary& s, LatencyFigure f);

struct LatenessSummary {
  double p50 = 0, p99 = 0, max = 0;  // seconds
};

// Per-batch service time: dispatch to completion of one batch (seconds).
struct ServiceSummary {
  double mean = 0, min = 0, p50 = 0, p90 = 0, max = 0;
};

// Per-request input preparation (decoding, resizing): time spent on each request (seconds).
struct PrepareSummary {
  double mean = 0, p50 = 0, p99 = 0, max = 0;
};

// A stretch of a run that changes load (steps:, diurnal:): its requests by scheduled arrival.
struct WindowSummary {
  double t_s = 0;            // the window's start, from the run's first arrival
  std::size_t requests = 0;  // arrived in it (and completed)
  double rate_hz = 0;        // those over the window's length (the last: up to its last arrival)
  double p99_s = 0, max_s = 0;  // their latency
  std::size_t batches = 0;   // dispatched in it
  double avg_batch = 0;      // their mean size (0: none)
};

// The windows' length for a load that changes.
inline constexpr TimeNs kLoadWindowNs = 10 * kNsPerS;

struct Summary {
  std::size_t requests = 0;
  std::size_t completed = 0;
  std::size_t batches = 0;
  double duration_s = 0;  // first scheduled arrival to last completion
  double avg_batch_size = 0;
  double throughput_rps = 0;
  LatencySummary latency_s;
  LatenessSummary dispatch_late_s;
  ServiceSummary service_s;
  std::optional<PrepareSummary> prepare_s;  // none when the backend prepared nothing per request
  std::vector<WindowSummary> windows;       // a load that changes: every kLoadWindowNs (else none)
};

// `window_ns` above 0: also the figures of each window of that length.
Summary summarize(const RunResult& r, TimeNs window_ns = 0);

// Windows of `window_ns` from the first arrival: each request by its arrival (ascending), with its
// latency in seconds (NaN: none, e.g. a failed request: not counted). No batches (0).
std::vector<WindowSummary> latency_windows(std::span<const TimeNs> arrivals, std::span<const double> latency_s,
                                           TimeNs window_ns);

}  // namespace greenbatch
