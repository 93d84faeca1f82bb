#pragma once
// tune as library functions: every fixed, greedy and timeout policy up to a batch size cap,
// simulated from a profile; those that meet a latency target, least energy first; and the best
// of them run for real. Nothing printed.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/latency_target.hpp"
#include "core/time.hpp"
#include "engine/run_record.hpp"
#include "sim/profile.hpp"
#include "sim/replay.hpp"

namespace greenbatch {

// The largest --cap (batch size searched): at 1024, about 30,000 policies (3,685 at the default
// 128); every policy is a simulated run.
inline constexpr std::size_t kMaxTuneCap = 1024;
inline constexpr unsigned kMaxTuneJobs = 1024;  // threads

struct TuneInput {
  double rate_hz = 64;
  std::string arrivals = "constant";
  std::size_t requests = 2048;
  bool requests_given = true;  // false: a load that changes (steps:, diurnal:) runs one cycle
  std::uint64_t seed = 1;
  std::size_t cap = 128;  // the largest batch size searched
  LatencyTarget target;
  unsigned jobs = 0;  // policies simulated at once (0: one per hardware thread)
  Slowdown slowdown;  // tune for a machine slower than the profile (simulate --slowdown); the oracle takes xF only
};

// One simulated policy that meets the target.
struct TuneCandidate {
  std::string policy;
  double energy_per_image_j = 0;
  double latency_s = 0;  // the target's figure
  double p99_s = 0, max_s = 0, avg_batch = 0;
};

struct TuneResult {
  std::vector<TuneCandidate> meeting;  // those that meet the target, least energy first (stable: grid order on ties)
  std::size_t simulated = 0;           // policies simulated
  double seconds = 0;                  // simulating them
  unsigned jobs = 0;                   // threads used
};

// The timeout policies' delays: a logarithmic grid (x1.25) from 0.5 ms up to below the target's
// limit, rounded to 0.1 ms (to 1 ms from 10 ms), no repeats.
std::vector<TimeNs> tune_delays(const LatencyTarget& target);

// The input's bounds: cap from 1 to kMaxTuneCap, requests (core/units.hpp's limits), the
// arrival process and rate (check_schedule), jobs. Throws UserError with the bound.
void check_tune_input(const TuneInput& in);

// Simulates tune_candidates(TuneSpace{cap, tune_delays(target)}) from the profile, in parallel,
// each policy independently (the result does not depend on jobs). Throws UserError on a bad
// input (check_tune_input), a profile without idle power or energy figures, and the first failure of a simulation.
// `static_only`: fixed, greedy and timeout alone (not the target's adaptive and aimd).
TuneResult tune(const Profile& profile, const TuneInput& in, bool static_only = false);

// The oracle of a load that changes (issue 22): the best static policy (fixed, greedy, timeout)
// of each segment, found by tune at the segment's rate with the load's gaps, switched at the true
// change points (a switch: policy), simulated over the whole load. For steps: the segments are
// the steps; for diurnal: pieces of kOraclePieceNs, each at its mean rate (an approximation: the
// rate still changes within a piece). No online policy can know the change points beforehand.
inline constexpr TimeNs kOraclePieceNs = 10 * kNsPerS;
struct OracleSegment {
  TimeNs from_ns = 0, length_ns = 0;
  double rate_hz = 0;
  std::optional<TuneCandidate> best;  // none: no static policy meets the target at this rate
};
struct OracleResult {
  std::vector<OracleSegment> segments;
  std::string policy;  // switch:... (greedy:cap for a segment that none meets)
  RunRecord record;    // the switch policy simulated over the whole load, as simulate writes it
};
// `in.arrivals` must be a steps: or diurnal: load. Throws UserError otherwise, and as tune does.
OracleResult oracle(const Profile& profile, const TuneInput& in);

struct Verified {
  TuneCandidate predicted;
  RunRecord measured;        // as appended to out/runs.jsonl
  double measured_latency_s = 0;  // the target's figure
};

// Runs the first `n` candidates for real, as the profile ran its model (device, meter, CPU
// threads, preprocessing, host memory), with the input's rate, arrivals, requests and seed;
// appends each record to `out`/runs.jsonl and calls `on_each` (may be empty) after each. With
// `repetitions` > 1, every candidate runs that many times, interleaved (all of them, then all
// again), repetition r with seed + r as a sweep's.
std::vector<Verified> verify(const Profile& profile, const TuneInput& in, const std::vector<TuneCandidate>& candidates,
                             std::size_t n, const std::string& out,
                             const std::function<void(const Verified&)>& on_each = {}, int repetitions = 1);

}  // namespace greenbatch
