#include "sim/simulate.hpp"

#include <fmt/format.h>

#include <chrono>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "io/experiment.hpp"
#include "io/results.hpp"
#include "sim/replay.hpp"

namespace greenbatch {

void check_idle_smoothing(double share) {
  if (!(share >= 0 && share <= 1)) {
    throw UserError(
        fmt::format("--idle-smoothing {}: the share of draws from neighbouring idle times, from 0 to 1", share));
  }
}

SimulationPlan plan_simulations(const std::string& rates, const std::string& policies, const std::string& arrivals,
                                std::size_t requests, std::uint64_t seed, bool requests_given) {
  SimulationPlan plan;
  if (split_list(rates).empty()) throw UserError(fmt::format("--rate '{}': give at least one rate, e.g. 16,32,64", rates));
  if (split_policies(policies).empty()) {
    throw UserError(fmt::format("--policy '{}': give at least one policy, e.g. fixed:16,greedy:128", policies));
  }
  check_requests(requests, "--requests");
  const ArrivalSpec process = parse_arrivals(arrivals);
  for (const std::string& rate : split_list(rates)) {
    for (const std::string& policy : split_policies(policies)) {
      RunSpec s;
      s.rate_hz = parse_rate_hz(rate, "--rate");
      check_schedule(process, s.rate_hz, schedule_count(process, requests, requests_given));
      s.policy = policy;
      s.arrivals = arrivals;
      s.requests = requests;
      s.requests_given = requests_given;
      s.seed = seed;
      parse_policy(policy);  // every spec is checked before anything runs
      plan.runs.push_back({s, 0});
    }
  }
  return plan;
}

SimulationPlan plan_simulations(const std::string& experiment_path) {
  const Experiment e = load_experiment(experiment_path, {}, /*check_models=*/false);
  SimulationPlan plan;
  plan.sweep = e.name;
  // The file's models are replaced by the profiles' (one profile per model).
  Experiment one = e;
  one.models = {one.models.front()};
  for (const PlannedRun& r : plan_runs(one)) plan.runs.push_back({r.spec, r.repetition});
  return plan;
}

SimulateResult simulate(const SimulateInput& in, const std::function<void(const SimulatedRun&)>& on_run) {
  if (in.profiles.empty()) throw UserError("--profile: give at least one profile");
  if (in.plan.runs.empty()) throw UserError("simulate: nothing to simulate (no rate, policy or run planned)");
  for (const SimulationPlan::Run& r : in.plan.runs) {  // every run's numbers, before any runs
    const ArrivalSpec a = parse_arrivals(r.spec.arrivals);
    const bool whole_trace = a.whole_by_default() && !r.spec.requests_given;
    if (!whole_trace) check_requests(r.spec.requests, "--requests");
    check_schedule(a, r.spec.rate_hz, whole_trace ? 0 : r.spec.requests);
  }
  const std::size_t count = in.profiles.size() * in.plan.runs.size();
  if (!in.requests_out.empty() && count != 1) {
    throw UserError(fmt::format("--requests-out: takes one simulated run, and these options give {}; name one profile, "
                                "one rate and one policy",
                                count));
  }
  check_results_folder(in.out);  // every output checked (and the folder locked) before the first run
  if (!in.requests_out.empty()) check_writable_file(in.requests_out, "--requests-out");
  check_csv_compatible(in.out + "/runs.csv", CsvStyle::kGreenbatch);
  const auto t0 = std::chrono::steady_clock::now();
  SimulateResult result;
  result.runs.reserve(count);
  for (const LoadedProfile& lp : in.profiles)
  for (const SimulationPlan::Run& planned : in.plan.runs) {
    RunOutcome sim = simulate_run(lp.profile, planned.spec, in.slowdown);
    RunRecord& rec = sim.record;
    result.requests += rec.summary->completed;
    rec.profile = lp.path;
    rec.repetition = planned.repetition;
    rec.sweep = in.plan.sweep;
    append_line_durable(in.out + "/runs.jsonl", rec.to_json().dump());
    append_csv(in.out + "/runs.csv", CsvStyle::kGreenbatch, rec);
    if (!in.requests_out.empty()) write_requests_csv(in.requests_out, sim.result);
    result.runs.push_back({lp.path, planned.spec, planned.repetition, std::move(rec)});
    if (on_run) on_run(result.runs.back());
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace greenbatch
