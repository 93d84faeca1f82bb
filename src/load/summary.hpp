#pragma once
// The figures of a load run from its per-request records (pure; unit-tested).
#include <span>

#include "engine/run_record.hpp"
#include "engine/summary.hpp"
#include "load/client.hpp"

namespace greenbatch::load {

struct LoadSummary {
  // requests, completed (the 2xx answers), duration_s (first scheduled time to the last outcome),
  // throughput_rps (2xx per second of it) and latency_s (answer complete minus scheduled time,
  // over the 2xx answers); no batches (the server's).
  Summary summary;
  LoadFigures figures;
};

// `window_ns` above 0 (a load that changes): also the 2xx answers' figures per window of that
// length, by scheduled time.
LoadSummary summarize_load(std::span<const RequestRecord> records, TimeNs window_ns = 0);

}  // namespace greenbatch::load
