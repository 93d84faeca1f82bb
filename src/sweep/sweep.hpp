#pragma once
// Sweeps and merges as library calls: the grid of an experiment file run (resumable, shardable,
// each finished run appended and synced), and result folders joined. The CLI parses flags,
// calls these and prints; progress reaches it through callbacks.
#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "io/experiment.hpp"

namespace greenbatch {

struct SweepPlan {
  Experiment experiment;
  std::string out, jsonl, csv;          // the results folder and its two files
  std::vector<PlannedRun> runs;         // this shard's runs, in order
  std::set<std::string> done;           // identities of the runs completed before (resuming)
  std::vector<const PlannedRun*> todo;  // the runs still to do, in order (point into `runs`)
  std::size_t unreadable_lines = 0;     // lines of runs.jsonl that did not parse (cut by a kill)
  double estimate_total_s = 0;          // of the runs to do
  SweepPlan() = default;
  SweepPlan(const SweepPlan&) = delete;  // `todo` points into `runs`
  SweepPlan& operator=(const SweepPlan&) = delete;
};

// Loads the experiment file (with --set overrides), plans shard `shard` ("I/N") and reads what is
// done already in OUT (the file's `out` when empty). With `lock` (a sweep that will run, not a
// dry run) the results folder is checked and locked first (check_results_folder), so that no
// other writer adds runs between this reading and the sweep's writing. Throws UserError on bad
// input, or when another process holds the folder.
void plan_sweep(SweepPlan& plan, const std::string& file, const std::vector<std::string>& sets,
                const std::string& shard, const std::string& out, bool lock = false);

// The estimated length of one run (its requests at its rate, the idle window and the cooldown).
double estimate_s(const PlannedRun& p, const Experiment& e);
// "MODEL POLICY RATE/s ARRIVALS rep R", for progress lines.
std::string describe(const PlannedRun& p);

struct SweepProgress {
  // A run starts: runs finished so far (of the whole plan), the run, the estimate of what is done.
  std::function<void(std::size_t finished, const PlannedRun& run, double estimate_done_s)> on_start;
  // A run ended (written): runs finished now, the run, and "p99 ..., J/image" or "FAILED: why".
  std::function<void(std::size_t finished, const PlannedRun& run, const std::string& outcome)> on_finish;
};

struct SweepOutcome {
  std::size_t ran = 0;                // runs done (and written) now
  std::vector<std::string> failures;  // "run: why", for each run that failed
  bool interrupted = false;           // `cancel` was set: the run in progress was not written
};

// Runs the plan's runs to do. Each model is loaded and warmed up once; a run that fails, or cannot
// start, is recorded with its error and the sweep goes on. `cancel` (set from a signal handler)
// stops the run in progress, which is not written, so that resuming runs it again.
SweepOutcome run_sweep(const SweepPlan& plan, const std::atomic<bool>& cancel, const SweepProgress& progress);

struct MergeOutcome {
  std::size_t runs = 0;  // records in the merged runs.jsonl
  std::vector<RunRecord> records;  // they, in the file's order
  // "FILE: N" for each input whose runs.jsonl had lines that did not parse (cut by a kill, or not
  // a record): they are not in the merged file.
  std::vector<std::string> unreadable;
};

// Joins DIRS/runs.jsonl (and OUT's own, when it has one) into OUT/runs.jsonl: identical
// duplicates kept once, a completed run replaces a failed one, two different results for one run
// are refused (UserError; nothing is written). OUT is checked and locked first
// (check_results_folder); the merged file is written whole to runs.jsonl.merging, synced, then
// renamed over runs.jsonl; the temporary file is removed on every exit path. OUT/runs.csv is
// rewritten the same way from the merged runs that ran (as a sweep writes it).
MergeOutcome merge_results(const std::vector<std::string>& dirs, const std::string& out);

}  // namespace greenbatch
