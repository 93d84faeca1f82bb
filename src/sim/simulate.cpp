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
                                std::size_t requests, std::uint64_t seed) {
  SimulationPlan plan;
  for (const std::string& rate : split_list(rates)) {
    for (const std::string& policy : split_list(policies)) {
      RunSpec s;
      s.rate_hz = parse_double(rate, "--rate");
      if (!(s.rate_hz > 0)) throw UserError(fmt::format("--rate {}: must be above 0", rate));
      s.policy = policy;
      s.arrivals = arrivals;
      s.requests = requests;
      s.requests_given = true;
      s.seed = seed;
      parse_policy(policy);  // every spec is checked before anything runs
      plan.runs.push_back({s, 0});
    }
  }
  parse_arrivals(arrivals);
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
    RunOutcome sim = simulate_run(lp.profile, planned.spec);
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
