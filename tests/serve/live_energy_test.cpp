// greenbatch serve's live energy through a modelled meter and a real inference loop: the energy
// counter and power at scrape time, and energy per inference since the start and over the recent
// batches, each total and above idle, equal to what the model of power says for the batches run.
#include "serve/live_energy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "batching/policy.hpp"
#include "energy/modelled.hpp"

namespace greenbatch::serve {
namespace {

using namespace std::chrono_literals;

class SlowBackend final : public Backend {
 public:
  void run(std::span<const Request>) override { std::this_thread::sleep_for(40ms); }
  std::string model() const override { return "slow"; }
  std::string device() const override { return "test"; }
  bool follows_clock() const override { return false; }
};

double seconds(TimeNs ns) { return static_cast<double>(ns) / 1e9; }

TEST(LiveEnergy, PerInferenceFiguresFollowTheModelledPowerOfTheBatchesRun) {
  constexpr double kIdle = 10, kBusy = 110;
  ModelledMeter meter(kIdle, kBusy);
  LiveEnergyTracker live(meter, kIdle);
  MetricsRegistry registry;
  ServingSources sources;
  sources.queue_depth = [] { return 0.0; };
  sources.energy = live.sources();
  ServingMetrics metrics = register_serving_metrics(registry, sources);
  ASSERT_NE(metrics.energy_per_inference, nullptr);
  SlowBackend backend;
  auto policy = parse_policy("fixed:1");
  InferenceLoop loop(backend, *policy, 10,
                     {.on_batch = {}, .after_answers = [&](const BatchRecord&, std::span<const TimeNs>) {
                       live.after_batch(*metrics.energy_per_inference);
                     }});
  live.attach(loop);
  EXPECT_EQ(live.joules(), 0.0);  // before the window opens (warm-up): nothing
  live.start();

  // Nothing ran yet: energy is idle power over the time so far; no per-inference figure.
  const double j0 = live.joules();
  EXPECT_GE(j0, 0.0);
  EXPECT_LT(j0, kIdle * seconds(loop.now()) + 1e-9);
  EXPECT_EQ(live.power_w(), kIdle);
  EXPECT_EQ(registry.render().find("greenbatch_energy_per_inference_joules{"), std::string::npos);

  // Three batches of one, further apart than the snapshot period.
  float x = 0;
  const Payload p{Payload::Kind::kTensor, nullptr, &x};
  const Payload* items[] = {&p};
  for (int i = 0; i < 3; ++i) {
    std::promise<void> done;
    ASSERT_EQ(loop.submit(items, [&done](Completion&&) { done.set_value(); }), InferenceLoop::Admit::kAccepted);
    ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
    std::this_thread::sleep_for(std::chrono::nanoseconds(LiveEnergyTracker::kSnapshotPeriodNs) + 30ms);
  }
  loop.close();
  live.stop();  // its snapshots taken
  const auto batches = loop.batches();
  ASSERT_EQ(batches.size(), 3u);
  const auto busy = [&](std::size_t from) {
    double s = 0;
    for (std::size_t i = from; i < batches.size(); ++i) s += seconds(batches[i].end_ns - batches[i].start_ns);
    return s;
  };
  // Above idle, the model's energy is exactly (busy - idle) x busy time.
  const auto gauge = [&](std::string_view window, std::string_view kind) {
    return metrics.energy_per_inference->labels({window, kind}).value();
  };
  EXPECT_NEAR(gauge("since_start", "dynamic"), (kBusy - kIdle) * busy(0) / 3, 1e-6);
  // The recent window starts at the first batch's snapshot: batches 2 and 3.
  EXPECT_NEAR(gauge("recent", "dynamic"), (kBusy - kIdle) * busy(1) / 2, 1e-6);
  // Totals add idle power over the time: more than the dynamic figures, by at most idle x elapsed.
  const double elapsed = seconds(loop.now());
  EXPECT_GT(gauge("since_start", "total"), gauge("since_start", "dynamic"));
  EXPECT_LT(gauge("since_start", "total"), gauge("since_start", "dynamic") + kIdle * elapsed / 3);
  EXPECT_GT(gauge("recent", "total"), gauge("recent", "dynamic"));

  // The counter: idle over the whole time plus the busy part, never decreasing.
  const double j1 = live.joules();
  const double t1 = seconds(loop.activity().now);
  EXPECT_NEAR(j1, kIdle * t1 + (kBusy - kIdle) * busy(0), kIdle * 0.05);
  EXPECT_GE(live.joules(), j1);
  EXPECT_EQ(live.power_w(), kIdle);  // no batch runs now
  const std::string text = registry.render();
  EXPECT_NE(text.find("greenbatch_energy_joules_total "), std::string::npos) << text;
  EXPECT_NE(text.find("greenbatch_idle_power_watts 10"), std::string::npos) << text;
}

// A meter that notes the threads that read it, over a modelled meter.
class ThreadNotingMeter final : public EnergyMeter {
 public:
  ThreadNotingMeter(double idle_w, double busy_w) : inner_(idle_w, busy_w) {}
  std::string spec() const override { return inner_.spec(); }
  void start(TimeNs now) override { inner_.start(now); }
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override {
    return inner_.stop(now, batches, images);
  }
  bool follows_clock() const override { return true; }
  std::optional<LiveEnergy> live(TimeNs now, TimeNs busy_ns, bool busy) override {
    {
      std::lock_guard lock(mutex);
      readers.push_back(std::this_thread::get_id());
    }
    return inner_.live(now, busy_ns, busy);
  }
  std::mutex mutex;
  std::vector<std::thread::id> readers;

 private:
  ModelledMeter inner_;
};

// A GPU's energy counter takes milliseconds to read: the inference thread only asks for a
// snapshot, and the tracker's own thread reads the meter.
TEST(LiveEnergy, TheInferenceThreadNeverReadsTheMeter) {
  ThreadNotingMeter meter(10, 110);
  LiveEnergyTracker live(meter, 10.0);
  MetricsRegistry registry;
  ServingSources sources;
  sources.queue_depth = [] { return 0.0; };
  sources.energy = live.sources();
  ServingMetrics metrics = register_serving_metrics(registry, sources);
  SlowBackend backend;
  auto policy = parse_policy("fixed:1");
  std::mutex ids_mutex;
  std::vector<std::thread::id> inference_threads;
  InferenceLoop loop(backend, *policy, 10,
                     {.on_batch = {}, .after_answers = [&](const BatchRecord&, std::span<const TimeNs>) {
                       {
                         std::lock_guard lock(ids_mutex);
                         inference_threads.push_back(std::this_thread::get_id());
                       }
                       live.after_batch(*metrics.energy_per_inference);
                     }});
  live.attach(loop);
  live.start();
  float x = 0;
  const Payload p{Payload::Kind::kTensor, nullptr, &x};
  const Payload* items[] = {&p};
  for (int i = 0; i < 2; ++i) {
    std::promise<void> done;
    ASSERT_EQ(loop.submit(items, [&done](Completion&&) { done.set_value(); }), InferenceLoop::Admit::kAccepted);
    ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
    std::this_thread::sleep_for(std::chrono::nanoseconds(LiveEnergyTracker::kSnapshotPeriodNs) + 30ms);
  }
  loop.close();
  live.stop();
  ASSERT_EQ(inference_threads.size(), 2u);
  std::lock_guard lock(meter.mutex);
  ASSERT_EQ(meter.readers.size(), 2u);  // one snapshot per batch (further apart than the period)
  for (const std::thread::id& reader : meter.readers) {
    EXPECT_NE(reader, inference_threads.front());
    EXPECT_NE(reader, std::this_thread::get_id());
  }
  // And the snapshots were taken: the per-inference figure is there.
  EXPECT_GT(metrics.energy_per_inference->labels({"since_start", "dynamic"}).value(), 0.0);
}

// A scrape asks for energy, then power: one reading answers both (a GPU's counter takes
// milliseconds to read), until the reuse time has passed.
TEST(LiveEnergy, OneScrapeReadsTheMeterOnce) {
  for (const bool reuse : {true, false}) {
    SCOPED_TRACE(reuse ? "reuse for an hour" : "no reuse");
    ThreadNotingMeter meter(10, 110);
    LiveEnergyTracker live(meter, 10.0, reuse ? std::chrono::steady_clock::duration(1h)
                                              : std::chrono::steady_clock::duration::zero());
    MetricsRegistry registry;
    ServingSources sources;
    sources.queue_depth = [] { return 0.0; };
    sources.energy = live.sources();
    register_serving_metrics(registry, sources);
    SlowBackend backend;
    auto policy = parse_policy("fixed:1");
    InferenceLoop loop(backend, *policy, 10, {});
    live.attach(loop);
    live.start();
    const auto reads = [&] {
      std::lock_guard lock(meter.mutex);
      return meter.readers.size();
    };
    const std::string text = registry.render();
    EXPECT_NE(text.find("greenbatch_power_watts 10\n"), std::string::npos) << text;
    EXPECT_EQ(reads(), reuse ? 1u : 2u);  // energy and power
    registry.render();
    EXPECT_EQ(reads(), reuse ? 1u : 4u);
    loop.close();
    live.stop();
  }
}

TEST(LiveEnergy, AMeterWithoutReadingsLeavesTheCounterAtZeroAndPowerUnknown) {
  NoMeter meter("no meter in this test");
  LiveEnergyTracker live(meter, std::nullopt);
  EXPECT_EQ(live.joules(), 0.0);
  EXPECT_TRUE(std::isnan(live.power_w()));
  EXPECT_FALSE(live.sources().idle_power_watts);  // no idle power measured: not exported
}

}  // namespace
}  // namespace greenbatch::serve
