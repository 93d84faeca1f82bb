#pragma once
// A server's own figures, read from its Prometheus /metrics (greenbatch serve's): the energy its
// meter measured, its batches and inferences. `greenbatch load --meter server` reads them before
// and after the window; a sweep's serve mode does so with the server it started. Pure parsing
// (unit-tested) and one GET.
#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"
#include "energy/meter.hpp"
#include "load/target.hpp"

namespace greenbatch::load {

// The sum of every sample of metric `name` (whatever its labels) in Prometheus's text format;
// nullopt when there is none. Lines that are comments, or not "NAME[{...}] VALUE [TIMESTAMP]",
// are skipped; a value that is not a finite number is skipped too.
std::optional<double> metric_sum(std::string_view text, std::string_view name);

// greenbatch serve's counters at one moment.
struct ServerReading {
  TimeNs at = 0;                 // when it was read (the caller's clock)
  std::optional<double> joules;  // greenbatch_energy_joules_total
  std::optional<double> idle_w;  // greenbatch_idle_power_watts
  double inferences = 0;         // greenbatch_inferences_total
  double batches = 0;            // greenbatch_batches_total
  double batch_size_sum = 0;     // greenbatch_batch_size_sum
};
ServerReading parse_server_reading(std::string_view metrics_text, TimeNs at);

// GET /metrics of `target` now; UserError when it cannot be read or has no
// greenbatch_batches_total (not a greenbatch serve).
ServerReading read_server(const Target& target, TimeNs at);

// The window between two readings as a meter's figure: joules and their share per successful
// inference (`images`), idle power and the energy above it. Not measured (with the reason) when
// the server exports no energy (its meter is none).
Energy server_energy(const ServerReading& before, const ServerReading& after, std::size_t images);

}  // namespace greenbatch::load
