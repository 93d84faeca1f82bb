// Harness overhead around a real network: the same batches of a TorchScript model, with
// --preprocess cached on the CPU, run (a) by calling the backend directly in a loop and
// (b) through the engine (schedule, policy, engine loop, records, summary), where every
// request has arrived before the first dispatch so that batches go back to back.
// Rounds alternate a and b; the medians are compared. Target: (b) adds under 2 %.
// Usage: bench_backend_overhead [MODELS_DIR [MODEL [BATCH [BATCHES [ROUNDS [THREADS]]]]]]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "arrivals/schedule.hpp"
#include "backends/torchscript/torchscript_backend.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

using namespace greenbatch;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  TorchScriptOptions o;
  o.models_dir = argc > 1 ? argv[1] : "models";
  o.model = argc > 2 ? argv[2] : "shufflenet_v2_x0_5";
  const std::size_t batch = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 8;
  const std::size_t batches = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 40;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 7;
  o.threads = argc > 6 ? std::atoi(argv[6]) : 1;
  o.preprocess = Preprocess::kCached;
  o.device = "cpu";
  const auto backend = make_torchscript_backend(o);
  backend->warmup(10, batch);
  const std::size_t n = batch * batches;
  const auto policy = parse_policy(fmt::format("fixed:{}", batch));

  const std::vector<Request> requests = consecutive_requests(0, n);
  std::vector<double> direct, engine, gaps_us;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t b = 0; b < batches; ++b) backend->run(std::span(requests).subspan(b * batch, batch));
    direct.push_back(seconds_since(t0) * 1e3 / static_cast<double>(batches));

    t0 = std::chrono::steady_clock::now();
    RealClock clock;
    NoMeter none("benchmark");
    // 1e9 requests per second: all n have arrived (within n ns) before the first dispatch.
    const RunResult res =
        run_engine(generate_schedule(parse_arrivals("constant"), 1e9, n, 1), *policy, *backend, none, clock);
    const Summary s = summarize(res);
    engine.push_back(seconds_since(t0) * 1e3 / static_cast<double>(batches));
    // The engine's own time between one batch's end and the next one's start.
    double gap_ns = 0;
    for (std::size_t b = 1; b < res.batches.size(); ++b) gap_ns += res.batches[b].start_ns - res.batches[b - 1].end_ns;
    gaps_us.push_back(gap_ns / 1e3 / static_cast<double>(res.batches.size() - 1));
    if (s.completed != n) {
      fmt::print(stderr, "run incomplete: {}\n", res.error);
      return 1;
    }
  }
  const double d = median(direct), e = median(engine);
  const double overhead = (e - d) / d * 100;
  fmt::print("model {} on cpu, {} thread(s), batch {}, {} batches per round, {} rounds\n", o.model, o.threads, batch,
             batches, rounds);
  fmt::print("direct backend: median {:.3f} ms per batch (rounds: {:.3f})\n", d, fmt::join(direct, ", "));
  fmt::print("through engine: median {:.3f} ms per batch (rounds: {:.3f})\n", e, fmt::join(engine, ", "));
  fmt::print("harness overhead: {:+.2f} % (target < 2 %)\n", overhead);
  fmt::print("engine time between batches: median {:.2f} us per batch ({:.4f} % of a batch)\n", median(gaps_us),
             median(gaps_us) / 1e3 / d * 100);
  return overhead < 2.0 ? 0 : 1;
}
