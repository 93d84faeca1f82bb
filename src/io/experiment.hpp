#pragma once
// Experiment files (TOML): a grid of models x rates x arrivals x policies x repetitions, run by
// `greenbatch sweep`. Everything is validated before any run starts; errors name the file,
// the line and the key.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/execute.hpp"
#include "load/run_load.hpp"

namespace greenbatch {

struct Experiment {
  std::string name;  // recorded as `sweep` in every run
  std::string file;
  std::vector<std::string> models, arrivals{"constant"}, policies;
  std::vector<double> rates;
  // Knob sets (core/knobs.hpp), each a pass over the rest of the grid with the model loaded
  // with them; default: the defaults alone.
  std::vector<Knobs> knobs{Knobs{}};
  int repetitions = 1;
  // Every run's settings but the grid's (requests, seed: repetition r uses seed + r, device,
  // meter, clock, preprocess, threads, warm-up, idle window, folders).
  RunSpec base;
  TimeNs cooldown_ns = 0;
  SweepOrder order = SweepOrder::kGrid;  // or random (within each model, seeded by order_seed)
  std::uint64_t order_seed = 1;
  std::string out;  // default results/NAME
  // The path to the model. kRun: in this process. kServe: a greenbatch serve started on
  // 127.0.0.1 per model and policy (its model reused across rates), driven by load, energy from
  // the server's meter. `target` (not empty): an external server at that URL, driven by load,
  // its policy recorded as `server_policy` (not enforced), energy from this machine's meter.
  SweepMode mode = SweepMode::kRun;
  std::string target, server_policy = "server";
  // The load's settings (serve and target): connections, request timeout, the request's form
  // (input: tensor, jpeg or null; serve mode's default follows `preprocess`: jpeg for
  // per-request, else tensor) and the model's tensor names.
  std::size_t connections = 64;
  TimeNs request_timeout = 120 * kNsPerS;  // long: an in-process run waits as long as it takes
  std::string input;
  load::TensorNames names;
  bool through_server() const { return mode == SweepMode::kServe || !target.empty(); }
  // Entries of the grid's lists dropped as synonyms of an earlier one ("policies: 'fixed:08' is
  // 'fixed:8'"): each configuration runs once.
  std::vector<std::string> duplicates;
};

// Bounds of an experiment file (said in the errors): repetitions, and runs of the whole grid.
inline constexpr long long kMaxRepetitions = 10000;
inline constexpr long long kMaxGridRuns = 1000000;

struct PlannedRun {
  RunSpec spec;
  int repetition = 0;
  std::size_t grid_index = 0;  // position in the full grid (models, rates, arrivals, policies, repetitions)
  std::string key;             // identity for resuming and merging: RunRecord::identity() of its record
};

// Loads FILE, applies `--set key=value` overrides (value in TOML syntax: rates=[16,64]),
// validates every part and every configuration of the grid (each list canonicalised, synonyms
// dropped). Throws UserError ("FILE:LINE: key 'K': what is wrong; accepted ...").
// `check_models` false skips the check that each model can be found (simulate replaces them).
Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets = {},
                           bool check_models = true);

// Every run of the grid in the experiment's order, keeping those of shard `index` of `count`
// (1-based; runs are dealt round-robin over the full grid, so shards are disjoint and whole).
std::vector<PlannedRun> plan_runs(const Experiment& e, int shard_index = 1, int shard_count = 1);

// The load of planned run `p` of a serve-mode or target experiment, sent to `url` (serve mode:
// the server the sweep started; its identity does not depend on the URL).
load::LoadSpec load_spec(const Experiment& e, const PlannedRun& p, const std::string& url);

// "I/N" -> (I, N); throws UserError.
std::pair<int, int> parse_shard(const std::string& text);

}  // namespace greenbatch
