#pragma once
// The run loop: a virtual queue over a precomputed schedule. At time `now` every request whose
// scheduled arrival is <= now is waiting; the policy decides; the engine sleeps or dispatches
// the oldest waiting requests. A request's latency is its completion minus its *scheduled*
// arrival, so time spent queueing is never hidden (no coordinated omission).
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "core/records.hpp"
#include "energy/meter.hpp"

namespace greenbatch {

struct RunResult {
  std::vector<TimeNs> arrivals;       // scheduled, ns from the start of the run
  std::vector<BatchRecord> batches;   // in dispatch order; together they cover requests [0, completed)
  Energy energy;
  std::string error;                  // set when the backend failed; what ran before is kept
  bool interrupted = false;           // stopped by the cancel flag

  std::size_t requests() const { return arrivals.size(); }
  std::size_t completed() const {
    return batches.empty() ? 0 : batches.back().first_request + batches.back().size;
  }
  TimeNs window_end_ns() const { return batches.empty() ? 0 : batches.back().end_ns; }
};

// Dispatch lateness: the engine meant to dispatch a batch at the earliest time, from the
// moment the server was free (the previous batch's end, or the start), at which the policy
// fed the arrivals so far would have said "dispatch". Lateness is the actual dispatch minus
// that time: wake-up overshoot, loop overhead and stalls, never the queueing the policy chose.
// With a pure policy this replays exactly; on the virtual clock it is 0.
TimeNs intended_dispatch(const BatchPolicy& policy, std::span<const TimeNs> arrivals, std::size_t head,
                         TimeNs free_at, TimeNs limit);
void fill_dispatch_lateness(const BatchPolicy& policy, std::span<const TimeNs> arrivals,
                            std::span<BatchRecord> batches);

// Runs the whole schedule. Never drops a request; stops early only if the backend throws
// (the error is recorded in the result). Policy contract violations throw std::logic_error.
// `cancel`, when given and set (from a signal handler), ends the run between two decisions; the
// result then carries error "interrupted".
RunResult run_engine(std::vector<TimeNs> arrivals, const BatchPolicy& policy, Backend& backend,
                     EnergyMeter& meter, Clock& clock, const std::atomic<bool>* cancel = nullptr);

}  // namespace greenbatch
