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

namespace greenbatch {

double estimate_s(const PlannedRun& p, const Experiment& e) {
  return static_cast<double>(p.spec.requests) / p.spec.rate_hz + ns_to_s(e.base.idle_window_ns) + ns_to_s(e.cooldown_ns);
}

std::string describe(const PlannedRun& p) {
  return fmt::format("{} {} {:g}/s {} rep {}", p.spec.model, p.spec.policy, p.spec.rate_hz, p.spec.arrivals,
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

SweepOutcome run_sweep(const SweepPlan& plan, const std::atomic<bool>& cancel, const SweepProgress& progress) {
  const Experiment& e = plan.experiment;
  check_csv_compatible(plan.csv, CsvStyle::kGreenbatch);
  const std::size_t before = plan.runs.size() - plan.todo.size();
  SweepOutcome o;
  RunSession session;
  double est_done = 0;
  for (const PlannedRun* p : plan.todo) {
    if (cancel) break;
    if (progress.on_start) progress.on_start(before + o.ran, *p, est_done);
    std::string outcome;
    // The run; a run that cannot start (model load, warm-up out of memory) is recorded with its
    // error and the sweep goes on. Writing is outside: a results file that cannot be written (a
    // full disk) stops the sweep with its error, and a run is never recorded twice.
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
    if (ran_record) {
      RunRecord& rec = *ran_record;
      rec.sweep = e.name;
      rec.repetition = p->repetition;
      append_line_durable(plan.jsonl, rec.to_json().dump());
      append_csv(plan.csv, CsvStyle::kGreenbatch, rec);
      if (!rec.error.empty()) {
        o.failures.push_back(fmt::format("{}: {}", describe(*p), rec.error));
        outcome = "FAILED: " + rec.error;
      } else {
        outcome = fmt::format("p99 {}, {}", format_duration_s(rec.summary->latency_s.p99),
                              rec.energy->per_image_j ? fmt::format("{:.4g} J/image", *rec.energy->per_image_j)
                                                      : std::string("energy not measured"));
      }
    } else {
      append_line_durable(plan.jsonl, failure_record(*p, e, start_error).to_json().dump());
      o.failures.push_back(fmt::format("{}: {}", describe(*p), start_error));
      outcome = "FAILED: " + start_error;
    }
    ++o.ran;
    est_done += estimate_s(*p, e);
    if (progress.on_finish) progress.on_finish(before + o.ran, *p, outcome);
    for (TimeNs left = e.cooldown_ns; left > 0 && !cancel; left -= 50 * kNsPerMs) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<TimeNs>(left, 50 * kNsPerMs)));
    }
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
  return outcome;
}

}  // namespace greenbatch
