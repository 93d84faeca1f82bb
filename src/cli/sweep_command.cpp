// greenbatch sweep FILE.toml: the grid of an experiment file, resumable, shardable.
// greenbatch merge DIR... --out DIR: joins result folders, refusing conflicting duplicates.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "sweep/sweep.hpp"
#include "io/experiment.hpp"
#include "io/records.hpp"

namespace greenbatch::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct SweepOptions {
  std::string file, out, shard = "1/1";
  std::vector<std::string> sets;
  bool dry_run = false;
  bool out_given = false;  // `--out ''` is refused, not taken as "the file's out"
};

// A word for a POSIX shell: as is when it is plain, else in single quotes.
std::string shell_word(const std::string& w) {
  const bool plain = !w.empty() && w.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                      "0123456789_./:=,+-@%") == std::string::npos;
  if (plain) return w;
  std::string q = "'";
  for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command that resumes this sweep: every option given, so that it runs the same grid into
// the same folder (the --set overrides too: without them it would be another experiment).
std::string resume_command(const SweepOptions& o, const std::string& out) {
  std::string cmd = "greenbatch sweep " + shell_word(o.file);
  for (const std::string& set : o.sets) cmd += " --set " + shell_word(set);
  cmd += " --out " + shell_word(out);
  if (o.shard != "1/1") cmd += " --shard " + shell_word(o.shard);
  return cmd;
}

std::string hms(double s) {
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

class Progress {
 public:
  Progress(std::size_t total, double est_total_s) : total_(total), est_total_(est_total_s), tty_(isatty(STDERR_FILENO)) {}
  void start_run(std::size_t done, const std::string& what, double est_done_s) {
    if (!tty_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double eta = est_done_s > 0 ? (est_total_ - est_done_s) * elapsed / est_done_s : est_total_ - est_done_s;
    const int width = 24;
    const int filled = total_ ? static_cast<int>(width * done / total_) : width;
    fmt::print(stderr, "\r\033[K[{}{}] {}/{} {}  ETA {}", std::string(filled, '#'), std::string(width - filled, '-'),
               done, total_, what, hms(std::max(0.0, eta)));
  }
  void finish_run(std::size_t done, const std::string& what, const std::string& outcome) {
    if (tty_) fmt::print(stderr, "\r\033[K");
    fmt::print(stderr, "[{}/{}] {}: {}\n", done, total_, what, outcome);
  }

 private:
  std::size_t total_;
  double est_total_;
  bool tty_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// How the runs reach the model, when not in this process.
std::string path_note(const Experiment& e) {
  if (e.mode == SweepMode::kServe) {
    return "; each through a greenbatch serve started on 127.0.0.1 per model and policy, driven by load";
  }
  if (!e.target.empty()) return fmt::format("; each sent by load to {} (policy recorded: {})", e.target, e.server_policy);
  return "";
}

int do_sweep(const SweepOptions& o) {
  if (o.out_given && o.out.empty()) throw UserError("--out '': an empty path; name a results folder");
  SweepPlan plan;
  // A sweep that runs locks its results folder before reading what is done there.
  plan_sweep(plan, o.file, o.sets, o.shard, o.out, /*lock=*/!o.dry_run);
  const Experiment& e = plan.experiment;
  const std::size_t total = plan.runs.size(), before = total - plan.todo.size();
  if (!e.duplicates.empty()) {
    fmt::print(stderr, "sweep {}: dropped {} duplicate entr{} of the grid (each configuration runs once): {}\n", e.name,
               e.duplicates.size(), e.duplicates.size() == 1 ? "y" : "ies", fmt::join(e.duplicates, "; "));
  }
  if (o.dry_run) {
    for (const PlannedRun& p : plan.runs) {
      fmt::print("{:>5}  {:<7} {}  (~{})\n", p.grid_index, plan.done.contains(p.key) ? "done" : "to run", describe(p),
                 hms(estimate_s(p, e)));
    }
    fmt::print("sweep {}: {} runs in shard {}, {} already done, {} to run, about {} (plus model loading and warm-up){}\n",
               e.name, total, o.shard, before, plan.todo.size(), hms(plan.estimate_total_s), path_note(e));
    return 0;
  }
  // plan_sweep checked the folder and its runs.csv when it locked them.
  if (plan.unreadable_lines) {
    fmt::print(stderr, "greenbatch sweep: {} unreadable line(s) in {} ignored\n", plan.unreadable_lines, plan.jsonl);
  }
  fmt::print(stderr, "sweep {}: {} runs, {} already done, {} to run (about {}), results in {}{}\n", e.name, total, before,
             plan.todo.size(), hms(plan.estimate_total_s), plan.out, path_note(e));

  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  Progress progress(total, plan.estimate_total_s);
  const SweepOutcome done = run_sweep(
      plan, g_interrupted,
      {[&](std::size_t finished, const PlannedRun& p, double est) { progress.start_run(finished, describe(p), est); },
       [&](std::size_t finished, const PlannedRun& p, const std::string& outcome) {
         progress.finish_run(finished, describe(p), outcome);
       }});
  const std::size_t n = done.ran;
  const std::vector<std::string>& failures = done.failures;
  const std::string& jsonl = plan.jsonl;
  const std::string& out = plan.out;
  if (g_interrupted) {
    fmt::print(stderr, "\ninterrupted: {} run(s) of this session are saved in {}; resume with\n  {}\n", n, jsonl,
               resume_command(o, out));
    return 130;
  }
  fmt::print(stderr, "sweep {}: {} run(s) done now, {} were done before, {} failed\n", e.name, n, before,
             failures.size());
  for (const std::string& f : failures) fmt::print(stderr, "  failed: {}\n", f);
  return failures.empty() ? 0 : 1;
}

struct MergeOptions {
  std::vector<std::string> dirs;
  std::string out;
  std::string sweep;              // the experiment the folders are shards of: checked for completeness
  std::vector<std::string> sets;  // its --set overrides, as the shards were run with
  int shards = 0;                 // how many shards it was split into: the incomplete ones are named
};

// Against the experiment's full grid: which planned runs the merged set lacks, which failed.
// Returns 1 (and says what is missing, and which shards to run again) when it is incomplete.
int check_complete(const MergeOptions& o, const MergeOutcome& m) {
  const Experiment e = load_experiment(o.sweep, o.sets, /*check_models=*/false);
  std::map<std::string, const RunRecord*> by_key;
  for (const RunRecord& r : m.records) {
    if (r.sweep == e.name) by_key[r.identity()] = &r;
  }
  const std::vector<PlannedRun> grid = plan_runs(e, 1, 1);
  std::vector<const PlannedRun*> missing, failed;
  std::set<int> shards;
  for (const PlannedRun& p : grid) {
    const auto it = by_key.find(p.key);
    if (it != by_key.end() && it->second->complete()) continue;
    (it == by_key.end() ? missing : failed).push_back(&p);
    if (o.shards > 0) shards.insert(static_cast<int>(p.grid_index % static_cast<std::size_t>(o.shards)) + 1);
  }
  if (missing.empty() && failed.empty()) {
    fmt::print(stderr, "complete: every one of the {} runs of {} is in {}\n", grid.size(), o.sweep, o.out);
    return 0;
  }
  fmt::print(stderr, "greenbatch merge: INCOMPLETE against {}: {} of {} runs missing, {} failed\n", o.sweep,
             missing.size(), grid.size(), failed.size());
  constexpr std::size_t kListed = 10;
  std::size_t listed = 0;
  for (const auto* list : {&missing, &failed}) {
    for (const PlannedRun* p : *list) {
      if (listed++ == kListed) break;
      fmt::print(stderr, "  {}: {}{}\n", list == &missing ? "missing" : "failed", p->key,
                 o.shards > 0 ? fmt::format(" (shard {}/{})", p->grid_index % static_cast<std::size_t>(o.shards) + 1,
                                            o.shards)
                              : "");
    }
  }
  if (missing.size() + failed.size() > kListed) fmt::print(stderr, "  ... and {} more\n", missing.size() + failed.size() - kListed);
  if (o.shards > 0) {
    fmt::print(stderr, "incomplete shards: {}\n  (a Slurm array: sbatch --array={} scripts/slurm/sweep.sbatch)\n",
               fmt::join(shards, ","), fmt::join(shards, ","));
  } else {
    fmt::print(stderr, "  (--shards N names the shards to run again)\n");
  }
  return 1;
}

int do_merge(const MergeOptions& o) {
  if (o.shards < 0) throw UserError("--shards: must be at least 1");
  if (o.shards > 0 && o.sweep.empty()) throw UserError("--shards goes with --sweep FILE (the experiment the shards are of)");
  if (!o.sets.empty() && o.sweep.empty()) throw UserError("--set goes with --sweep FILE");
  if (!o.sweep.empty()) (void)load_experiment(o.sweep, o.sets, /*check_models=*/false);  // before writing anything
  const MergeOutcome m = merge_results(o.dirs, o.out);
  for (const std::string& u : m.unreadable) {
    fmt::print(stderr, "greenbatch merge: {} unreadable line(s) (cut by a kill, or not a run record) not merged\n", u);
  }
  fmt::print(stderr, "merged {} run(s) from {} folder(s) into {}/runs.jsonl and runs.csv\n", m.runs, o.dirs.size(), o.out);
  return o.sweep.empty() ? 0 : check_complete(o, m);
}

}  // namespace

void add_sweep_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* sub = app.add_subcommand("sweep", "Run every configuration of an experiment file (resumable)");
  sub->add_option("file", o->file, "Experiment file (TOML), e.g. configs/paper.toml")->required();
  CLI::Option* out = sub->add_option("--out", o->out, "Results folder (overrides the file's `out`)");
  sub->add_option("--set", o->sets, "Override a key of the file: --set rates=[16,64] --set 'device=\"cuda\"'");
  sub->add_flag("--dry-run", o->dry_run, "List the runs with an estimated duration, run nothing");
  sub->add_option("--shard", o->shard, "Run the I-th of N disjoint slices of the grid (e.g. 2/8)")->capture_default_str();
  sub->callback([&action, o, out] {
    o->out_given = out->count() > 0;
    action = [o] { return do_sweep(*o); };
  });

  auto m = std::make_shared<MergeOptions>();
  CLI::App* merge = app.add_subcommand("merge", "Join result folders (e.g. the shards of a sweep)");
  merge->add_option("dirs", m->dirs, "Result folders holding runs.jsonl")->required();
  merge->add_option("--out", m->out, "Folder to write the merged runs.jsonl (and runs.csv) to")->required();
  merge->add_option("--sweep", m->sweep,
                    "The experiment file the folders are shards of: exit 1, saying what is missing or failed, when "
                    "the merged runs are not its whole grid");
  merge->add_option("--set", m->sets, "The --set overrides the shards ran with (with --sweep)");
  merge->add_option("--shards", m->shards, "How many shards the grid was split into (with --sweep): names the "
                                           "incomplete ones, to run again");
  merge->callback([&action, m] { action = [m] { return do_merge(*m); }; });
}

}  // namespace greenbatch::cli
