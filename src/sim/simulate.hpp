#pragma once
// simulate as a library function: profiles (a file's path and its model) times planned runs,
// each replayed on the virtual clock and written as run writes its records. Nothing printed.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/execute.hpp"
#include "engine/run_record.hpp"
#include "sim/profile.hpp"
#include "sim/replay.hpp"

namespace greenbatch {

// --idle-smoothing: a share from 0 to 1. Throws UserError.
void check_idle_smoothing(double share);

// The runs to simulate for each profile, and the experiment's name where they come from one.
struct SimulationPlan {
  struct Run {
    RunSpec spec;
    int repetition = 0;
  };
  std::vector<Run> runs;
  std::string sweep;  // the experiment's name; empty for lists
};
// Every rate with every policy (comma-separated lists), in that order. Rates above 0, policies
// and the arrival process parsed before anything runs. Throws UserError.
// `requests_given` false: a trace or a load that changes (steps:, diurnal:) runs whole, one cycle.
SimulationPlan plan_simulations(const std::string& rates, const std::string& policies, const std::string& arrivals,
                                std::size_t requests, std::uint64_t seed, bool requests_given = true);
// An experiment file's grid (models not checked: the profiles replace them; one model's grid).
SimulationPlan plan_simulations(const std::string& experiment_path);

struct SimulateInput {
  std::vector<LoadedProfile> profiles;  // each runs the whole plan, in this order
  SimulationPlan plan;
  std::string out;           // results folder: runs.jsonl and runs.csv are appended
  std::string requests_out;  // per-request CSV of the one run (empty: none)
  Slowdown slowdown;         // the machine replayed on, slower than the profiles' (none: as profiled)
};

struct SimulatedRun {
  std::string profile_path;
  RunSpec spec;  // as planned (the profile's model is not in it)
  int repetition = 0;
  RunRecord record;  // as written
};

struct SimulateResult {
  std::vector<SimulatedRun> runs;  // profiles x plan, in that order
  std::size_t requests = 0;        // completed, over all runs
  double seconds = 0;              // from the first run to the last written (on_run included)
};

// Checks first (--requests-out takes exactly one run; runs.csv of the same column style), then
// simulates each run, appends its record and calls `on_run` with it (may be empty). Throws
// UserError before anything runs on bad input.
SimulateResult simulate(const SimulateInput& in, const std::function<void(const SimulatedRun&)>& on_run = {});

}  // namespace greenbatch
