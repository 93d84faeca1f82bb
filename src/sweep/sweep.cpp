#include "sweep/sweep.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "io/records.hpp"
#include "io/results.hpp"
#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/choices.hpp"
#include "load/client.hpp"
#include "load/target.hpp"
#include "sweep/server_process.hpp"

namespace greenbatch {

namespace {
// The run's mean rate: a load that changes with time has its own.
double mean_rate_hz(const PlannedRun& p) {
  const ArrivalSpec a = parse_arrivals(p.spec.arrivals);
  return a.varies() ? a.mean_rate_hz() : p.spec.rate_hz;
}
}  // namespace

double estimate_s(const PlannedRun& p, const Experiment& e) {
  return static_cast<double>(p.spec.requests) / mean_rate_hz(p) + ns_to_s(e.base.idle_window_ns) +
         ns_to_s(e.cooldown_ns);
}

std::string describe(const PlannedRun& p) {
  return fmt::format("{} {} {:g}/s {} rep {}", p.spec.model, p.spec.policy, mean_rate_hz(p), p.spec.arrivals,
                     p.repetition);
}

namespace {

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

}  // namespace

void plan_sweep(SweepPlan& plan, const std::string& file, const std::vector<std::string>& sets,
                const std::string& shard, const std::string& out, bool lock) {
  plan.experiment = load_experiment(file, sets);
  const Experiment& e = plan.experiment;
  const auto [shard_i, shard_n] = parse_shard(shard);
  plan.out = out.empty() ? e.out : out;
  if (plan.out.empty()) throw UserError(fmt::format("--out '': an empty path; name a results folder"));
  plan.jsonl = plan.out + "/runs.jsonl";
  plan.csv = plan.out + "/runs.csv";
  plan.runs = plan_runs(e, shard_i, shard_n);
  if (lock) {
    check_results_folder(plan.out, out.empty() ? "out" : "--out");
    check_csv_compatible(plan.csv, CsvStyle::kGreenbatch);
  }
  for (const RunRecord& r : read_runs(plan.jsonl, &plan.unreadable_lines)) {
    if (r.complete()) plan.done.insert(r.identity());
  }
  for (const PlannedRun& p : plan.runs) {
    if (!plan.done.contains(p.key)) {
      plan.todo.push_back(&p);
      plan.estimate_total_s += estimate_s(p, e);
    }
  }
}

namespace {

// Writes a run's record (or, with no record, the failure of a run that could not start) and
// tells the progress callback. A results file that cannot be written stops the sweep with its
// error; a run is never recorded twice.
void write_run(const SweepPlan& plan, const PlannedRun& p, std::optional<RunRecord> ran_record,
               const std::string& start_error, SweepOutcome& o, const SweepProgress& progress, std::size_t before) {
  RunRecord rec = ran_record ? std::move(*ran_record) : failure_record(p, plan.experiment, start_error);
  rec.sweep = plan.experiment.name;
  rec.repetition = p.repetition;
  append_line_durable(plan.jsonl, rec.to_json().dump());
  if (rec.summary) append_csv(plan.csv, CsvStyle::kGreenbatch, rec);  // runs.csv keeps runs that ran
  std::string outcome;
  if (!rec.error.empty()) {
    o.failures.push_back(fmt::format("{}: {}", describe(p), rec.error));
    outcome = "FAILED: " + rec.error;
  } else {
    outcome = fmt::format("p99 {}, {}", format_duration_s(rec.summary->latency_s.p99),
                          rec.energy && rec.energy->per_image_j ? fmt::format("{:.4g} J/image{}", *rec.energy->per_image_j,
                                                                                   rec.energy->estimated ? " (estimated)" : "")
                                                                : std::string("energy not measured"));
  }
  ++o.ran;
  if (progress.on_finish) progress.on_finish(before + o.ran, p, outcome);
}

void cool_down(const Experiment& e, const std::atomic<bool>& cancel) {
  for (TimeNs left = e.cooldown_ns; left > 0 && !cancel; left -= 50 * kNsPerMs) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<TimeNs>(left, 50 * kNsPerMs)));
  }
}

// The greenbatch serve of one model and policy, as `run` would load them, on a free port of
// 127.0.0.1; its lifetime records go to OUT/servers/runs.jsonl and its output to a log there.
std::vector<std::string> serve_args(const PlannedRun& p, const std::string& name, std::size_t max_queue,
                                    const std::string& servers_dir) {
  const RunSpec& s = p.spec;
  std::vector<std::string> a = {self_executable(),
                                "serve",
                                "--model", s.model,
                                "--device", s.device,
                                "--threads", std::to_string(s.threads),
                                "--preprocess", std::string(name_of(s.preprocess)),
                                "--preprocess-threads", s.preprocess_threads < 0 ? "auto" : std::to_string(s.preprocess_threads),
                                "--host-memory", std::string(name_of(s.host_memory)),
                                "--models-dir", s.models_dir,
                                "--images", s.images_dir,
                                "--warmup-batches", std::to_string(s.warmup_batches),
                                "--warmup-batch-size", std::to_string(s.warmup_batch_size),
                                "--meter", s.meter,
                                "--idle-window", fmt::format("{}ns", s.idle_window_ns),
                                "--policy", s.policy,
                                "--host", "127.0.0.1",
                                "--port", "0",
                                "--max-queue", std::to_string(max_queue),
                                "--name", name,
                                "--out", servers_dir};
  if (s.graph_optimize) a.push_back("--graph-optimize");
  return a;
}

// The server a group of runs shares: the same model and backend settings and policy.
std::string server_key(const PlannedRun& p) {
  const RunSpec& s = p.spec;
  return fmt::format("{}|{}|{}|{}", canonical_model(s.model), canonical_device(s.model, s.device),
                     parse_policy(s.policy)->spec(), s.meter);
}

constexpr TimeNs kServerStartTimeout = 3600 * kNsPerS;  // loading and warming a model up on a slow CPU

// Waits until the server says the model is ready (it listens while it warms up). Throws
// UserError when the server ends first, after kServerStartTimeout, or on `cancel`.
void wait_ready(const std::string& url, const std::string& model, ServerProcess& server,
                const std::atomic<bool>& cancel) {
  const load::Target target = load::parse_target(url);
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(kServerStartTimeout);
  while (true) {
    if (!server.running()) {
      throw UserError(fmt::format("greenbatch serve ended while it warmed up; its output:\n{}", server.log_tail()));
    }
    if (cancel) throw UserError("interrupted while greenbatch serve warmed up");
    if (std::chrono::steady_clock::now() > until) {
      throw UserError(fmt::format("greenbatch serve was not ready within {:g} s; its output:\n{}",
                                  ns_to_s(kServerStartTimeout), server.log_tail()));
    }
    try {
      if (load::http_get(target, fmt::format("/v2/models/{}/ready", model), 5 * kNsPerS).status == 200) return;
    } catch (const UserError&) {
      // not answering yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Serve and target modes: each run is a load against a server; in serve mode the sweep starts
// a greenbatch serve per model and policy (kept across the rates that follow) and stops it when
// the next run needs another, or at the end.
SweepOutcome run_server_sweep(const SweepPlan& plan, const std::atomic<bool>& cancel, const SweepProgress& progress) {
  const Experiment& e = plan.experiment;
  const bool serve = e.mode == SweepMode::kServe;
  const std::size_t before = plan.runs.size() - plan.todo.size();
  SweepOutcome o;
  std::unique_ptr<ServerProcess> server;
  std::string server_for, url = e.target, server_error;
  const std::string servers_dir = plan.out + "/servers";
  std::size_t max_queue = 1024;
  for (const PlannedRun* p : plan.todo) max_queue = std::max(max_queue, p->spec.requests);
  double est_done = 0;
  for (const PlannedRun* p : plan.todo) {
    if (cancel) break;
    if (progress.on_start) progress.on_start(before + o.ran, *p, est_done);
    load::LoadSpec spec = load_spec(e, *p, url);
    // A server per model and policy: started when the run needs another, or again when it ended
    // (a crash); one that could not start fails its group's runs without another attempt.
    const bool same_group = !serve || server_for == server_key(*p);
    if (serve && (!same_group || (server && !server->running()))) {
      if (server) server->stop();
      server.reset();
      server_error.clear();
      url.clear();
      server_for = server_key(*p);
      try {
        std::filesystem::create_directories(servers_dir);
        const std::string log = fmt::format("{}/{}-{}.log", servers_dir, load::url_safe_name(spec.record_model),
                                            load::url_safe_name(spec.policy));
        server = std::make_unique<ServerProcess>(serve_args(*p, spec.model, max_queue, servers_dir), log);
        url = server->wait_listening(kServerStartTimeout, cancel);
      } catch (const UserError& err) {
        server.reset();  // stopped if it still ran; not started again for this group
        if (cancel) break;
        server_error = fmt::format("greenbatch serve could not start: {}", err.what());
      }
    }
    if (cancel) break;
    std::optional<RunRecord> ran_record;
    std::string start_error = server_error;
    if (start_error.empty()) {
      spec.url = url;
      try {
        // A server that is still warming up is waited for (bounded), then loaded.
        if (serve) wait_ready(url, spec.model, *server, cancel);
        load::LoadRun ran = load::run_load(spec, &cancel);
        if (ran.cancelled) break;  // not written: resuming runs it again
        ran_record = std::move(ran.record);
      } catch (const UserError& err) {
        if (cancel) break;
        start_error = err.what();
      }
    }
    if (!ran_record) {
      // The header the record would have had: the same identity, and the error.
      try {
        // A server that never started has no URL: the header from a placeholder, the target empty
        // (a serve-mode run is known by its configuration, not its URL).
        load::LoadSpec header_spec = spec;
        if (serve && header_spec.url.empty()) header_spec.url = "http://127.0.0.1:1";
        RunRecord h = load::load_header(header_spec);
        if (serve && spec.url.empty()) h.target.clear();
        h.started_utc = utc_now_iso8601();
        h.error = start_error;
        ran_record = std::move(h);
      } catch (const UserError&) {
      }
    }
    write_run(plan, *p, std::move(ran_record), start_error, o, progress, before);
    est_done += estimate_s(*p, e);
    cool_down(e, cancel);
  }
  if (server) server->stop();
  o.interrupted = cancel;
  return o;
}

}  // namespace

SweepOutcome run_sweep(const SweepPlan& plan, const std::atomic<bool>& cancel, const SweepProgress& progress) {
  const Experiment& e = plan.experiment;
  check_csv_compatible(plan.csv, CsvStyle::kGreenbatch);
  if (e.through_server()) return run_server_sweep(plan, cancel, progress);
  const std::size_t before = plan.runs.size() - plan.todo.size();
  SweepOutcome o;
  RunSession session;
  double est_done = 0;
  for (const PlannedRun* p : plan.todo) {
    if (cancel) break;
    if (progress.on_start) progress.on_start(before + o.ran, *p, est_done);
    // The run; a run that cannot start (model load, warm-up out of memory) is recorded with its
    // error and the sweep goes on.
    std::optional<RunRecord> ran_record;
    std::string start_error;
    try {
      PreparedRun run(p->spec, &session);
      run.set_cancel_flag(&cancel);
      RunOutcome ran = run.execute();
      if (ran.result.interrupted) break;  // not written: resuming runs it again
      ran_record = std::move(ran.record);
    } catch (const UserError& err) {
      session.reset();  // reload the model for the next run
      start_error = err.what();
    }
    write_run(plan, *p, std::move(ran_record), start_error, o, progress, before);
    est_done += estimate_s(*p, e);
    cool_down(e, cancel);
  }
  o.interrupted = cancel;
  return o;
}

MergeOutcome merge_results(const std::vector<std::string>& dirs, const std::string& out) {
  // Key: the sweep and the run's identity. Identical duplicates are kept once; a complete run
  // replaces a failed one; two different complete results for one key are a conflict.
  struct Entry {
    RunRecord record;
    nlohmann::json json;  // its record as written by the codec
  };
  std::map<std::string, Entry> merged;
  std::vector<std::string> order;
  check_results_folder(out);
  MergeOutcome outcome;
  std::vector<std::string> inputs = dirs;
  if (std::filesystem::exists(out + "/runs.jsonl")) inputs.insert(inputs.begin(), out);
  for (const std::string& dir : inputs) {
    if (!std::filesystem::exists(dir + "/runs.jsonl")) throw UserError(fmt::format("merge: {}/runs.jsonl not found", dir));
    std::size_t unreadable = 0;
    for (RunRecord& r : read_runs(dir + "/runs.jsonl", &unreadable)) {
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
    if (unreadable) outcome.unreadable.push_back(fmt::format("{}/runs.jsonl: {}", dir, unreadable));
  }
  const TempFile tmp(out + "/runs.jsonl.merging");
  std::string text;
  for (const std::string& k : order) {
    if (!text.empty()) text += '\n';
    text += merged.at(k).json.dump();
  }
  if (!text.empty()) append_line_durable(tmp.path(), text);
  else append_line_durable(tmp.path(), "");  // an empty merge: an empty line, read as nothing
  std::error_code ec;
  std::filesystem::rename(tmp.path(), out + "/runs.jsonl", ec);
  if (ec) throw UserError(fmt::format("merge: cannot replace {}/runs.jsonl: {}", out, ec.message()));
  outcome.runs = order.size();
  const TempFile csv(out + "/runs.csv.merging");
  for (const std::string& k : order) {
    const RunRecord& r = merged.at(k).record;
    if (r.summary) append_csv(csv.path(), CsvStyle::kGreenbatch, r);  // as a sweep: the runs that ran
    outcome.records.push_back(r);
  }
  if (std::filesystem::exists(csv.path())) {
    std::filesystem::rename(csv.path(), out + "/runs.csv", ec);
    if (ec) throw UserError(fmt::format("merge: cannot replace {}/runs.csv: {}", out, ec.message()));
  }
  return outcome;
}

}  // namespace greenbatch
