#pragma once
// The run loop: a virtual queue over a precomputed schedule. At time `now` every request whose
// scheduled arrival is <= now is waiting; the policy decides; the engine sleeps or dispatches
// the oldest waiting requests. A request's latency is its completion minus its *scheduled*
// arrival, so time spent queueing is never hidden (no coordinated omission).
#include <cstdint>
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

  std::size_t requests() const { return arrivals.size(); }
  std::size_t completed() const {
    return batches.empty() ? 0 : batches.back().first_request + batches.back().size;
  }
  TimeNs window_end_ns() const { return batches.empty() ? 0 : batches.back().end_ns; }
};

// Runs the whole schedule. Never drops a request; stops early only if the backend throws
// (the error is recorded in the result). Policy contract violations throw std::logic_error.
RunResult run_engine(std::vector<TimeNs> arrivals, const BatchPolicy& policy, Backend& backend,
                     EnergyMeter& meter, Clock& clock);

}  // namespace greenbatch
