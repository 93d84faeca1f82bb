// Harness overhead: the whole pipeline per iteration (generate the schedule, parse the policy,
// run the engine, summarise) for 1,000,000 requests on the virtual clock, with the null
// synthetic backend and no meter, so all the time measured is greenbatch's own.
// items_per_second = requests per second of CPU time. Target: at least 2 million.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "energy/meter.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

namespace {

using namespace greenbatch;

constexpr std::size_t kRequests = 1'000'000;

void pipeline(benchmark::State& state, const std::string& arrivals, const std::string& policy_spec,
              double rate_hz) {
  const ArrivalSpec spec = parse_arrivals(arrivals);
  double avg_batch = 0;
  for (auto _ : state) {
    VirtualClock clock;
    SyntheticBackend backend(SyntheticParams{0, 0}, clock);
    NoMeter meter("benchmark");
    std::vector<TimeNs> schedule = generate_schedule(spec, rate_hz, kRequests, 1);
    const std::unique_ptr<BatchPolicy> policy = parse_policy(policy_spec);
    const RunResult result = run_engine(std::move(schedule), *policy, backend, meter, clock);
    const Summary summary = summarize(result);
    benchmark::DoNotOptimize(summary);
    if (summary.completed != kRequests) {
      state.SkipWithError("not every request completed");
      break;
    }
    avg_batch = summary.avg_batch_size;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kRequests));
  state.counters["avg_batch"] = avg_batch;
}

}  // namespace

int main(int argc, char** argv) {
  for (const char* arrivals : {"constant", "poisson"}) {
    for (const char* policy : {"greedy:128", "fixed:16", "timeout:32:50ms"}) {
      for (double rate : {1'000.0, 100'000.0}) {
        const std::string name = fmt::format("pipeline/{}/{}/{}Hz", arrivals, policy, rate);
        benchmark::RegisterBenchmark(name.c_str(), pipeline, std::string(arrivals), std::string(policy), rate)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
