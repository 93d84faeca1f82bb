#pragma once
// The run loop: a precomputed schedule replayed into the batching core. At time `now` every
// request whose scheduled arrival is <= now has been submitted; the policy decides; the engine
// sleeps or runs the batch. A request's latency is its completion minus its *scheduled*
// arrival, so time spent queueing is never hidden (no coordinated omission).
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "batching/core.hpp"
#include "core/clock.hpp"
#include "core/records.hpp"
#include "energy/meter.hpp"

namespace greenbatch {

struct RunResult {
  std::vector<TimeNs> arrivals;       // scheduled, ns from the start of the run
  std::vector<BatchRecord> batches;   // in dispatch order; together they cover requests [0, completed)
  std::vector<TimeNs> prepare_ns;     // per request: time spent preparing its input (empty: none prepared)
  Energy energy;
  std::string error;                  // set when the backend failed; what ran before is kept
  bool interrupted = false;           // stopped by the cancel flag

  std::size_t requests() const { return arrivals.size(); }
  std::size_t completed() const {
    return batches.empty() ? 0 : batches.back().first_request + batches.back().size;
  }
  TimeNs window_end_ns() const { return batches.empty() ? 0 : batches.back().end_ns; }
};

// The replay harness: the schedule on a clock, driving a BatchingCore (batching/core.hpp).
// Each request is submitted at its scheduled arrival; between decisions the harness sleeps until
// the policy's wake-up or the next scheduled arrival, whichever comes first. Request i carries
// input i. Never drops a request; stops early only if the backend throws (the error is recorded
// in the result). Policy contract violations throw std::logic_error.
//
// Dispatch lateness, recorded in the loop: each batch's dispatch minus the time the engine meant
// to act, which is the later of the moment the server became free (the previous batch's end, or
// the start) and the wake-up it last slept for (a timeout or an arrival): wake-up overshoot, loop
// overhead and stalls, never the queueing the policy chose. On the virtual clock it is 0.
//
// `cancel`, when given and set (from a signal handler), ends the run between two decisions; the
// result then carries error "interrupted".
//
// A request is announced to the backend (Backend::arrived) as it is submitted, so that a backend
// preparing inputs per request does it while the request waits; the preparation time of each
// request is kept in the result.
RunResult run_engine(std::vector<TimeNs> arrivals, BatchPolicy& policy, Backend& backend, EnergyMeter& meter,
                     Clock& clock, const std::atomic<bool>* cancel = nullptr);

}  // namespace greenbatch
