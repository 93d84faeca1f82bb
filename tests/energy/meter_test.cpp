// Energy meters over real time with the fake NVML, the sampler, the modelled meter's trace,
// and the CLI end to end.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "energy/energy_math.hpp"
#include "energy/fake_nvml.hpp"
#include "energy/meter.hpp"
#include "energy/modelled.hpp"
#include "energy/sampler.hpp"
#include "engine/engine.hpp"
#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using namespace std::chrono_literals;
const MeterContext kGpu0{"cuda:0", ""};

Energy measure_for(EnergyMeter& m, std::chrono::milliseconds d) {
  m.start(0);
  std::this_thread::sleep_for(d);
  return m.stop(0, {}, 100);
}

TEST(NvmlMeter, CounterAndSamplingAgreeOnASteadyLoad) {
  testing::FakeNvml fake(1, 120.0);
  auto counter = make_meter("nvml", kGpu0);
  const Energy e = measure_for(*counter, 600ms);
  ASSERT_TRUE(e.measured) << e.reason;
  EXPECT_EQ(e.method, "nvml");
  EXPECT_NEAR(*e.joules, 120.0 * e.window_s, 0.03 * 120.0 * e.window_s);
  EXPECT_NEAR(*e.per_image_j, *e.joules / 100, 1e-12);
  ASSERT_TRUE(e.cross_check.has_value());
  EXPECT_EQ(e.cross_check->method, "nvml-sampled");
  EXPECT_LT(std::abs(*e.cross_check->difference_pct), 5.0);
  EXPECT_GT(e.samples, 30u);  // every 10 ms
  ASSERT_FALSE(e.warnings.empty());  // 0.6 s is shorter than ten 100 ms sensor updates
  EXPECT_NE(e.warnings[0].find("shorter than ten sensor updates"), std::string::npos);
}

TEST(NvmlMeter, AfterALoadChangeTheTwoMethodsDisagreeInPlainSight) {
  // 300 W until the window opens, then 100 W: the counter sees 100 W; the 1-second averaged
  // power still remembers the 300 W (the effect measured on an H100: up to 94 % apart).
  testing::FakeNvml fake(1, 300.0);
  fake.set_power(0, 100.0);
  auto counter = make_meter("nvml", kGpu0);
  const Energy e = measure_for(*counter, 500ms);
  ASSERT_TRUE(e.measured);
  EXPECT_NEAR(*e.joules, 100.0 * e.window_s, 0.05 * 100.0 * e.window_s);
  // The averaged reading falls from 300 W to 200 W over the window: about 250 W on average.
  EXPECT_GT(*e.cross_check->difference_pct, 100.0);
  EXPECT_NEAR(*e.cross_check->instant_joules, *e.joules, 0.1 * *e.joules);

  testing::FakeNvml again(1, 300.0);
  again.set_power(0, 100.0);
  auto sampled = make_meter("nvml-sampled", kGpu0);
  const Energy s = measure_for(*sampled, 500ms);
  EXPECT_EQ(s.method, "nvml-sampled");
  EXPECT_EQ(s.cross_check->method, "nvml");
  EXPECT_GT(*s.joules, 2.0 * *s.cross_check->joules);
}

class PoweredBackend final : public Backend {
 public:
  PoweredBackend(testing::FakeNvml& fake, Clock& clock) : fake_(fake), clock_(clock) {}
  void run(std::span<const Request>) override {
    fake_.set_power(0, 300.0);
    clock_.sleep_until(clock_.now() + 20 * kNsPerMs);
    fake_.set_power(0, 100.0);
  }
  std::string model() const override { return "powered"; }
  std::string device() const override { return "cuda:0"; }
  bool follows_clock() const override { return false; }

 private:
  testing::FakeNvml& fake_;
  Clock& clock_;
};

TEST(NvmlMeter, ARunsEnergyIdleBusyAndPeak) {
  testing::FakeNvml fake(1, 100.0);
  auto meter = make_meter("nvml", kGpu0);
  const double idle = *meter->measure_idle_w(300 * kNsPerMs);
  EXPECT_NEAR(idle, 100.0, 3.0);
  RealClock clock;
  PoweredBackend backend(fake, clock);
  auto policy = parse_policy("fixed:1");
  const RunResult r =
      run_engine(generate_schedule(parse_arrivals("constant"), 20, 30, 1), *policy, backend, *meter, clock);
  const Energy& e = r.energy;
  ASSERT_TRUE(e.measured) << e.reason;
  TimeNs busy_ns = 0;
  for (const BatchRecord& b : r.batches) busy_ns += b.end_ns - b.start_ns;
  const double expected = 100.0 * e.window_s + 200.0 * ns_to_s(busy_ns);
  EXPECT_NEAR(*e.joules, expected, 0.03 * expected);
  EXPECT_NEAR(*e.idle_power_w, idle, 1e-9);
  EXPECT_NEAR(*e.dynamic_per_image_j, (*e.joules - idle * e.window_s) / 30, 1e-9);
  EXPECT_NEAR(*e.dynamic_per_image_j, 200.0 * 0.020, 0.4);  // 200 W above idle for 20 ms each
  EXPECT_NEAR(*e.peak_power_w, 300.0, 1.0);
  EXPECT_TRUE(e.warnings.empty()) << e.warnings.front();  // 1.45 s: long enough
  EXPECT_EQ(e.sensor["gpu_name"], "Fake GPU 0");
  EXPECT_FALSE(e.trace.empty());
}

TEST(NvmlMeter, ASensorFailingMidRunKeepsTheRunAndSaysWhy) {
  testing::FakeNvml fake(1, 100.0);
  auto meter = make_meter("nvml", kGpu0);
  meter->start(0);
  std::this_thread::sleep_for(100ms);
  fake.fail_power(0);
  std::this_thread::sleep_for(100ms);
  const Energy e = meter->stop(0, {}, 10);
  EXPECT_FALSE(e.measured);
  EXPECT_FALSE(e.joules.has_value());
  EXPECT_NE(e.reason.find("the power sensor failed"), std::string::npos) << e.reason;
  // Each sample reads the averaged power, then the instant power; the failure can land between
  // the two, so either call may be the one that reports it, always with NVML's error.
  EXPECT_TRUE(e.reason.find("nvmlDeviceGetPowerUsage") != std::string::npos ||
              e.reason.find("nvmlDeviceGetFieldValues(POWER_INSTANT)") != std::string::npos)
      << e.reason;
  EXPECT_NE(e.reason.find("NVML error 999"), std::string::npos) << e.reason;

  testing::FakeNvml counter_breaks(1, 100.0);
  auto m2 = make_meter("nvml", kGpu0);
  m2->start(0);
  counter_breaks.fail_energy(0);
  const Energy e2 = m2->stop(0, {}, 10);
  EXPECT_FALSE(e2.measured);
  EXPECT_NE(e2.reason.find("energy counter failed"), std::string::npos) << e2.reason;
}

// Seen on an H100: a 54 ms window between two counter updates read 0 J. A counter that did not
// move is no measurement, whatever the window: the figure is null, with the reason.
TEST(NvmlMeter, ACounterThatDidNotAdvanceGivesNoFigure) {
  testing::FakeNvml fake(1, 0.0);
  auto meter = make_meter("nvml", kGpu0);
  const Energy e = measure_for(*meter, 50ms);
  EXPECT_FALSE(e.measured);
  EXPECT_FALSE(e.joules.has_value());
  EXPECT_FALSE(e.per_image_j.has_value());
  EXPECT_NE(e.reason.find("energy counter did not advance"), std::string::npos) << e.reason;

  fake.set_power(0, 80.0);
  const Energy moving = measure_for(*meter, 50ms);
  EXPECT_TRUE(moving.measured) << moving.reason;
  EXPECT_GT(*moving.joules, 0.0);
}

TEST(Sampler, StopsAtOnceEvenWithALongPeriod) {
  int reads = 0;
  Sampler s(60 * kNsPerS, [&](TimeNs t) {
    ++reads;
    return PowerSample{t, 1, 1};
  });
  s.start();
  std::this_thread::sleep_for(20ms);
  const auto t0 = std::chrono::steady_clock::now();
  s.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // not the 60 s period
  EXPECT_EQ(reads, 1);
}

TEST(Sampler, HandsItsErrorToTheCaller) {
  Sampler s(kNsPerMs, [](TimeNs t) -> PowerSample {
    if (t > 5 * kNsPerMs) throw std::runtime_error("sensor gone");
    return {t, 1, 1};
  });
  s.start();
  std::this_thread::sleep_for(50ms);
  s.stop();
  ASSERT_TRUE(s.error().has_value());
  EXPECT_EQ(*s.error(), "sensor gone");
  EXPECT_GE(*s.error_at_ns(), 5 * kNsPerMs);
}

TEST(Sampler, IntegrationIsExactForStepsAndRamps) {
  const std::vector<PowerSample> ramp = {{0, 0, 0}, {kNsPerS, 100, 10}};
  EXPECT_DOUBLE_EQ(integrate_samples(ramp, 0, kNsPerS, false), 50.0);
  EXPECT_DOUBLE_EQ(integrate_samples(ramp, 0, kNsPerS, true), 5.0);
  // Held past the last sample and before the first.
  const std::vector<PowerSample> one = {{kNsPerS, 10, 10}};
  EXPECT_DOUBLE_EQ(integrate_samples(one, 0, 3 * kNsPerS, false), 30.0);
}

TEST(ModelledMeter, ItsPowerTraceIntegratesToItsEnergy) {
  VirtualClock clock;
  SyntheticBackend backend(SyntheticParams{5 * kNsPerMs, 0}, clock);
  ModelledMeter meter(50, 150);
  auto policy = parse_policy("fixed:16");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), 64, 512, 1), *policy, backend, meter, clock);
  const Energy& e = r.energy;
  ASSERT_EQ(e.trace.size(), 2 + 4 * r.batches.size());
  EXPECT_NEAR(integrate_samples(e.trace, 0, r.window_end_ns(), false), *e.joules, 1e-9);
  EXPECT_EQ(e.trace[2].t_ns, r.batches[0].start_ns);
  EXPECT_EQ(e.trace[2].power_w, 150);
}

TEST(ModelledMeter, LiveAgreesWithStopAndFollowsTheBatches) {
  ModelledMeter meter(50, 150);
  const TimeNs t0 = 7 * kNsPerS;
  meter.start(t0);
  EXPECT_EQ(meter.live(t0 - kNsPerS, 0, false)->joules, 0.0);  // before the window: nothing yet
  const auto idle = meter.live(t0 + kNsPerS, 0, false);
  ASSERT_TRUE(idle.has_value());
  EXPECT_DOUBLE_EQ(idle->joules, 50.0);
  EXPECT_EQ(idle->power_w.value_or(0), 50.0);
  const auto busy = meter.live(t0 + 2 * kNsPerS, 500 * kNsPerMs, true);
  EXPECT_DOUBLE_EQ(busy->joules, 50.0 * 2 + 100.0 * 0.5);
  EXPECT_EQ(busy->power_w.value_or(0), 150.0);
  // A reading that lands late with an older clock never takes the counter back.
  EXPECT_DOUBLE_EQ(meter.live(t0 + kNsPerS, 0, false)->joules, 150.0);

  // At the window's end, the same busy time gives stop()'s figure to the last bit.
  auto batch = [](TimeNs from, TimeNs to) {
    BatchRecord b;
    b.start_ns = from;
    b.end_ns = to;
    return b;
  };
  const std::vector<BatchRecord> batches = {batch(t0 + 100 * kNsPerMs, t0 + 400 * kNsPerMs),
                                            batch(t0 + 2 * kNsPerS, t0 + 2'250'000'123)};
  const TimeNs end = t0 + 3'000'000'007;
  const double live_j = meter.live(end, busy_time_ns(batches), false)->joules;
  EXPECT_EQ(live_j, *meter.stop(end, batches, 10).joules);

  meter.start(end);  // a new window starts from zero
  EXPECT_EQ(meter.live(end, 0, false)->joules, 0.0);
}

TEST(NoMeter, LiveHasNothing) {
  NoMeter meter("no sensor");
  meter.start(0);
  EXPECT_FALSE(meter.live(kNsPerS, 0, true).has_value());
}

using Steady = std::chrono::steady_clock;
double seconds_between(Steady::time_point a, Steady::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// A window opened now, timed from both sides, so that a reading at a steady `watts` can be held
// between the shortest and the longest the window could have been when it was taken.
class TimedWindow {
 public:
  explicit TimedWindow(EnergyMeter& m) : meter_(m) {
    before_ = Steady::now();
    m.start(0);
    after_ = Steady::now();
  }
  LiveEnergy read(double watts) {
    const auto t0 = Steady::now();
    const std::optional<LiveEnergy> r = meter_.live(0, 0, false);
    const auto t1 = Steady::now();
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_GE(r->joules, watts * seconds_between(after_, t0) - 0.01);  // 0.01 J: the counter's mJ
    EXPECT_LE(r->joules, watts * seconds_between(before_, t1) + 0.01);
    return *r;
  }

 private:
  EnergyMeter& meter_;
  Steady::time_point before_, after_;
};

TEST(NvmlMeter, LiveJoulesFollowTheCounterAndPowerTheSamples) {
  testing::FakeNvml fake(1, 120.0);
  for (const char* spec : {"nvml", "nvml-sampled"}) {
    SCOPED_TRACE(spec);
    auto meter = make_meter(spec, kGpu0);
    TimedWindow window(*meter);
    std::this_thread::sleep_for(150ms);
    const LiveEnergy a = window.read(120.0);
    EXPECT_GT(a.joules, 120.0 * 0.1);
    ASSERT_TRUE(a.power_w.has_value());
    EXPECT_NEAR(*a.power_w, 120.0, 1.0);
    std::this_thread::sleep_for(200ms);
    const LiveEnergy b = window.read(120.0);
    EXPECT_GT(b.joules, a.joules + 120.0 * 0.15);
    const Energy e = meter->stop(0, {}, 10);
    ASSERT_TRUE(e.measured) << e.reason;
    EXPECT_GE(*e.joules, b.joules - 0.01);
  }
}

TEST(NvmlMeter, LiveSaysNothingOnceTheSensorFails) {
  // nvml: reading the counter throws; nvml-sampled: the sampler meets a failed power reading.
  for (const bool counter : {true, false}) {
    SCOPED_TRACE(counter ? "nvml" : "nvml-sampled");
    testing::FakeNvml fake(1, 100.0);
    auto meter = make_meter(counter ? "nvml" : "nvml-sampled", kGpu0);
    meter->start(0);
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(meter->live(0, 0, false).has_value());
    if (counter) fake.fail_energy(0);
    else fake.fail_power(0);
    std::this_thread::sleep_for(100ms);  // ten sampling periods
    EXPECT_FALSE(meter->live(0, 0, false).has_value());
    EXPECT_FALSE(meter->stop(0, {}, 1).measured);
  }
}

TEST(Sampler, ItsProgressIsTheIntegralStopWouldTake) {
  // A ramp, so that the rule matters (trapezoids, the first value held from 0).
  Sampler s(2 * kNsPerMs, [](TimeNs t) { return PowerSample{t, 10 + ns_to_s(t) * 1000, 0}; });
  EXPECT_FALSE(s.progress(0).latest.has_value());
  s.start();
  std::this_thread::sleep_for(60ms);
  const Sampler::Progress running = s.progress(s.now_ns());
  ASSERT_TRUE(running.latest.has_value());
  EXPECT_FALSE(running.failed);
  EXPECT_GT(running.joules, 0.0);
  s.stop();
  const TimeNs at = s.samples().back().t_ns + 5 * kNsPerMs;
  const Sampler::Progress p = s.progress(at);
  EXPECT_EQ(p.latest->t_ns, s.samples().back().t_ns);
  EXPECT_NEAR(p.joules, integrate_samples(s.samples(), 0, at, false), 1e-9 * p.joules);
  EXPECT_GT(s.samples().size(), 5u);
}

class EnergyCli : public testing::TempDirTest {};

TEST_F(EnergyCli, PowerTraceFilesHoldSamplesAndBatches) {
  const std::string trace = (dir_ / "power.csv").string();
  const auto r = testing::run_greenbatch("run --clock virtual --model synthetic:base=5ms --rate 64 --policy fixed:16 "
                                         "--requests 64 --meter modelled:idle=50W,busy=150W --out " +
                                         dir_.string() + " --power-trace " + trace);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string samples = testing::slurp(trace);
  EXPECT_EQ(samples.rfind("t_s,power_w,instant_w\n0.000000000,50,50\n", 0), 0u) << samples.substr(0, 80);
  const std::string batches = testing::slurp(dir_ / "power.batches.csv");
  EXPECT_EQ(batches.rfind("batch_id,start_s,end_s,size\n0,0.234375000,0.239375000,16\n", 0), 0u) << batches;
  EXPECT_EQ(std::count(batches.begin(), batches.end(), '\n'), 5);
}

TEST_F(EnergyCli, NvmlThroughTheCliWithTheFakeDriver) {
  // Sets GREENBATCH_NVML_LIBRARY for the child process too; the child's fake starts at its
  // default, one GPU drawing 75 W.
  testing::FakeNvml fake;
  const auto r = testing::run_greenbatch("run --model synthetic:base=2ms --rate 200 --policy fixed:4 --requests 64 "
                                         "--meter nvml:gpu=0 --idle-window 200ms --out " + dir_.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("nvml-sampled says"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("warning: the window"), std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(dir_ / "runs.jsonl"));
  const auto& e = j["energy"];
  EXPECT_EQ(e["method"], "nvml");
  EXPECT_TRUE(e["measured"].get<bool>());
  EXPECT_NEAR(e["idle_power_w"].get<double>(), 75.0, 2.0);
  EXPECT_NEAR(e["avg_power_w"].get<double>(), 75.0, 2.0);
  EXPECT_EQ(e["cross_check"]["method"], "nvml-sampled");
  EXPECT_EQ(e["sensor"]["gpu_name"], "Fake GPU 0");
  EXPECT_EQ(e["sensor"]["driver_version"], "999.99-fake");
  EXPECT_GT(e["samples"].get<int>(), 10);
  EXPECT_NE(e["warnings"][0].get<std::string>().find("shorter than ten sensor updates"), std::string::npos);
}

}  // namespace
}  // namespace greenbatch
