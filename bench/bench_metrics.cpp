// The serving metrics' hot path (src/serve/metrics): a counter increment (whole and fractional),
// a labelled child looked up per call, and a histogram observation, on one and two threads
// sharing the same series (the contended case: every server thread updates the same counters);
// and render() of the serving standard set with a served model's children, as one scrape.
// Usage: bench_metrics [GOOGLE BENCHMARK FLAGS]
#include <benchmark/benchmark.h>

#include <string>

#include "serve/metrics.hpp"

using namespace greenbatch::serve;

namespace {

// One registry for the whole run, shared by the threads of a benchmark.
MetricsRegistry& registry() {
  static MetricsRegistry r;
  return r;
}

ServingMetrics& serving() {
  static ServingMetrics m = register_serving_metrics(
      registry(), {[] { return 3.0; }, EnergySources{[] { return 1234.5; }, [] { return 71.25; }, [] { return 30.0; }}});
  return m;
}

void BM_CounterInc(benchmark::State& state) {
  auto& c = serving().batches;
  for (auto _ : state) c.inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2)->UseRealTime();

void BM_CounterIncDouble(benchmark::State& state) {
  auto& c = serving().inferences.labels({"resnet50"});
  for (auto _ : state) c.inc(0.5);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncDouble)->Threads(1)->Threads(2)->UseRealTime();

// What a server does when it does not keep the child: the family's lock and map per request.
void BM_CounterLabelsInc(benchmark::State& state) {
  auto& fam = serving().requests;
  for (auto _ : state) fam.labels({"resnet50", "200"}).inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterLabelsInc)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObserve(benchmark::State& state) {
  auto& h = serving().request_duration;
  double v = 0.0001;
  for (auto _ : state) {
    h.observe(v);
    v = v < 60 ? v * 1.7 : 0.0001;  // across all the buckets
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

void BM_RenderStandardSet(benchmark::State& state) {
  auto& m = serving();
  for (const char* code : {"200", "400", "404", "413", "503"}) m.requests.labels({"resnet50", code}).inc();
  m.inferences.labels({"resnet50"}).inc();
  for (const char* window : {"recent", "since_start"})
    for (const char* kind : {"total", "dynamic"}) m.energy_per_inference->labels({window, kind}).set(0.123456789);
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = registry().render();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderStandardSet);

}  // namespace

BENCHMARK_MAIN();
