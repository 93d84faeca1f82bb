// greenbatch sweep FILE.toml: the grid of an experiment file, resumable, shardable.
// greenbatch merge DIR... --out DIR: joins result folders, refusing conflicting duplicates.
#include <fmt/format.h>
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
#include "io/experiment.hpp"
#include "io/records.hpp"
#include "io/results.hpp"

namespace greenbatch::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

struct SweepOptions {
  std::string file, out, shard = "1/1";
  std::vector<std::string> sets;
  bool dry_run = false;
};

double estimate_s(const PlannedRun& p, const Experiment& e) {
  return static_cast<double>(p.spec.requests) / p.spec.rate_hz + ns_to_s(e.base.idle_window_ns) + ns_to_s(e.cooldown_ns);
}

std::string hms(double s) {
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string describe(const PlannedRun& p) {
  return fmt::format("{} {} {:g}/s {} rep {}", p.spec.model, p.spec.policy, p.spec.rate_hz, p.spec.arrivals,
                     p.repetition);
}

// The record of a run that could not even start (model load, warm-up): the header its run
// would have had (so the same model name and identity) and the error, nothing measured.
RunRecord failure_record(const PlannedRun& p, const Experiment& e, const std::string& error) {
  RunRecord rec = record_header(p.spec);
  rec.sweep = e.name;
  rec.repetition = p.repetition;
  rec.started_utc = utc_now_iso8601();
  rec.error = error;
  return rec;
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

int do_sweep(const SweepOptions& o) {
  const Experiment e = load_experiment(o.file, o.sets);
  const auto [shard_i, shard_n] = parse_shard(o.shard);
  const std::string out = o.out.empty() ? e.out : o.out;
  const std::string jsonl = out + "/runs.jsonl";
  const std::string csv = out + "/runs.csv";
  const std::vector<PlannedRun> runs = plan_runs(e, shard_i, shard_n);

  std::size_t unreadable = 0;
  std::set<std::string> done;
  for (const RunRecord& r : read_runs(jsonl, &unreadable)) {
    if (r.complete()) done.insert(r.identity());
  }
  std::vector<const PlannedRun*> todo;
  double est_total = 0;
  for (const PlannedRun& p : runs) {
    if (!done.contains(p.key)) {
      todo.push_back(&p);
      est_total += estimate_s(p, e);
    }
  }
  if (o.dry_run) {
    for (const PlannedRun& p : runs) {
      fmt::print("{:>5}  {:<7} {}  (~{})\n", p.grid_index, done.contains(p.key) ? "done" : "to run", describe(p),
                 hms(estimate_s(p, e)));
    }
    fmt::print("sweep {}: {} runs in shard {}, {} already done, {} to run, about {} (plus model loading and warm-up)\n",
               e.name, runs.size(), o.shard, runs.size() - todo.size(), todo.size(), hms(est_total));
    return 0;
  }
  check_csv_compatible(csv, CsvStyle::kGreenbatch);
  if (unreadable) fmt::print(stderr, "greenbatch sweep: {} unreadable line(s) in {} ignored\n", unreadable, jsonl);
  fmt::print(stderr, "sweep {}: {} runs, {} already done, {} to run (about {}), results in {}\n", e.name, runs.size(),
             runs.size() - todo.size(), todo.size(), hms(est_total), out);

  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  RunSession session;
  Progress progress(runs.size(), est_total);
  std::vector<std::string> failures;
  double est_done = 0;
  std::size_t n = 0;
  for (const PlannedRun* p : todo) {
    if (g_interrupted) break;
    progress.start_run(runs.size() - todo.size() + n, describe(*p), est_done);
    std::string outcome;
    try {
      PreparedRun run(p->spec, &session);
      run.set_cancel_flag(&g_interrupted);
      RunOutcome ran = run.execute();
      if (ran.result.interrupted) break;  // not written: resuming runs it again
      RunRecord& rec = ran.record;
      rec.sweep = e.name;
      rec.repetition = p->repetition;
      append_line_durable(jsonl, rec.to_json().dump());
      append_csv(csv, CsvStyle::kGreenbatch, rec);
      if (!rec.error.empty()) {
        failures.push_back(fmt::format("{}: {}", describe(*p), rec.error));
        outcome = "FAILED: " + rec.error;
      } else {
        outcome = fmt::format("p99 {}, {}", format_duration_s(rec.summary->latency_s.p99),
                              rec.energy->per_image_j ? fmt::format("{:.4g} J/image", *rec.energy->per_image_j)
                                                      : std::string("energy not measured"));
      }
    } catch (const UserError& err) {
      // A run that cannot start (model load, warm-up out of memory) is recorded; the sweep goes on.
      session.backend.reset();  // reload the model for the next run
      session.clock.reset();
      session.identity.clear();
      append_line_durable(jsonl, failure_record(*p, e, err.what()).to_json().dump());
      failures.push_back(fmt::format("{}: {}", describe(*p), err.what()));
      outcome = std::string("FAILED: ") + err.what();
    }
    ++n;
    est_done += estimate_s(*p, e);
    progress.finish_run(runs.size() - todo.size() + n, describe(*p), outcome);
    for (TimeNs left = e.cooldown_ns; left > 0 && !g_interrupted; left -= 50 * kNsPerMs) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<TimeNs>(left, 50 * kNsPerMs)));
    }
  }
  if (g_interrupted) {
    fmt::print(stderr, "\ninterrupted: {} run(s) of this session are saved in {}; resume with\n  greenbatch sweep {} --out {}{}\n",
               n, jsonl, o.file, out, o.shard == "1/1" ? "" : " --shard " + o.shard);
    return 130;
  }
  fmt::print(stderr, "sweep {}: {} run(s) done now, {} were done before, {} failed\n", e.name, n,
             runs.size() - todo.size(), failures.size());
  for (const std::string& f : failures) fmt::print(stderr, "  failed: {}\n", f);
  return failures.empty() ? 0 : 1;
}

struct MergeOptions {
  std::vector<std::string> dirs;
  std::string out;
};

int do_merge(const MergeOptions& o) {
  // Key: the sweep and the run's identity. Identical duplicates are kept once; a complete run
  // replaces a failed one; two different complete results for one key are a conflict.
  struct Entry {
    RunRecord record;
    nlohmann::json json;  // its record as written by the codec
  };
  std::map<std::string, Entry> merged;
  std::vector<std::string> order;
  std::vector<std::string> inputs = o.dirs;
  if (std::filesystem::exists(o.out + "/runs.jsonl")) inputs.insert(inputs.begin(), o.out);
  for (const std::string& dir : inputs) {
    if (!std::filesystem::exists(dir + "/runs.jsonl")) throw UserError(fmt::format("merge: {}/runs.jsonl not found", dir));
    for (RunRecord& r : read_runs(dir + "/runs.jsonl")) {
      const std::string key = nlohmann::json(r.sweep).dump() + "|" + r.identity();
      nlohmann::json j = r.to_json();
      auto it = merged.find(key);
      if (it == merged.end()) {
        order.push_back(key);
        merged.emplace(key, Entry{std::move(r), std::move(j)});
      } else if (it->second.json == j || !r.complete()) {
        continue;
      } else if (!it->second.record.complete()) {
        it->second = Entry{std::move(r), std::move(j)};
      } else {
        throw UserError(fmt::format("merge: two different results for the same run ({}), one of them in {}; "
                                    "nothing was written",
                                    r.identity(), dir));
      }
    }
  }
  std::filesystem::create_directories(o.out);
  const std::string tmp = o.out + "/runs.jsonl.merging";
  std::filesystem::remove(tmp);
  for (const std::string& k : order) append_line_durable(tmp, merged.at(k).json.dump());
  std::filesystem::rename(tmp, o.out + "/runs.jsonl");
  fmt::print(stderr, "merged {} run(s) from {} folder(s) into {}/runs.jsonl\n", order.size(), o.dirs.size(), o.out);
  return 0;
}

}  // namespace

void add_sweep_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* sub = app.add_subcommand("sweep", "Run every configuration of an experiment file (resumable)");
  sub->add_option("file", o->file, "Experiment file (TOML), e.g. configs/paper.toml")->required();
  sub->add_option("--out", o->out, "Results folder (overrides the file's `out`)");
  sub->add_option("--set", o->sets, "Override a key of the file: --set rates=[16,64] --set 'device=\"cuda\"'");
  sub->add_flag("--dry-run", o->dry_run, "List the runs with an estimated duration, run nothing");
  sub->add_option("--shard", o->shard, "Run the I-th of N disjoint slices of the grid (e.g. 2/8)")->capture_default_str();
  sub->callback([&action, o] { action = [o] { return do_sweep(*o); }; });

  auto m = std::make_shared<MergeOptions>();
  CLI::App* merge = app.add_subcommand("merge", "Join result folders (e.g. the shards of a sweep)");
  merge->add_option("dirs", m->dirs, "Result folders holding runs.jsonl")->required();
  merge->add_option("--out", m->out, "Folder to write the merged runs.jsonl to")->required();
  merge->callback([&action, m] { action = [m] { return do_merge(*m); }; });
}

}  // namespace greenbatch::cli
