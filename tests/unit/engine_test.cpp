// The engine on the virtual clock with the synthetic backend: exact, instant.
#include "engine/engine.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "core/error.hpp"
#include "energy/modelled.hpp"
#include "engine/summary.hpp"

namespace greenbatch {
namespace {

constexpr TimeNs kService = 5 * kNsPerMs;
constexpr TimeNs kGap64 = 15'625'000;  // 1/64 s

struct Sim {
  VirtualClock clock;
  SyntheticBackend backend{SyntheticParams{kService, 0}, clock};
  NoMeter none{"test"};

  RunResult run(const std::string& policy, std::size_t n, double rate = 64, EnergyMeter* meter = nullptr) {
    auto p = parse_policy(policy);
    return run_engine(generate_schedule(parse_arrivals("constant"), rate, n, 1), *p, backend,
                      meter ? *meter : none, clock);
  }
};

TEST(Engine, Fixed16At64HzFormsFullBatchesAndTheMaximumIsExact) {
  Sim s;
  const RunResult r = s.run("fixed:16", 512);
  ASSERT_EQ(r.completed(), 512u);
  ASSERT_EQ(r.batches.size(), 32u);
  for (const BatchRecord& b : r.batches) EXPECT_EQ(b.size, 16u);
  const Summary sum = summarize(r);
  EXPECT_EQ(sum.latency_s.max, ns_to_s(15 * kGap64 + kService));  // 15/64 s + 5 ms
  EXPECT_EQ(sum.avg_batch_size, 16);
  // The newest request of each batch waits only for the service.
  EXPECT_EQ(r.batches[3].end_ns - r.arrivals[r.batches[3].first_request + 15], kService);
}

TEST(Engine, GreedyAt64HzServesEachRequestAlone) {
  Sim s;
  const RunResult r = s.run("greedy:128", 512);
  const Summary sum = summarize(r);
  EXPECT_EQ(sum.avg_batch_size, 1);
  EXPECT_EQ(sum.latency_s.max, ns_to_s(kService));
  EXPECT_EQ(sum.latency_s.p50, ns_to_s(kService));
}

TEST(Engine, TimeoutAt64HzDerivedByHand) {
  // Arrivals every 15.625 ms. The oldest's 50 ms deadline passes after 4 arrivals (0, 15.625,
  // 31.25, 46.875 ms; the 5th comes at 62.5 ms), so every batch holds 4 and is dispatched
  // 50 ms after its oldest, which is done 55 ms after arriving. The newest waits
  // 50 - 46.875 + 5 = 8.125 ms. The server is free again at 55 ms, before the next batch's
  // first arrival at 62.5 ms, so the pattern repeats every 62.5 ms. The last batch goes as
  // soon as its last request arrives: once the stream has ended, waiting gains nothing.
  Sim s;
  const RunResult r = s.run("timeout:16:50ms", 512);
  ASSERT_EQ(r.batches.size(), 128u);
  for (std::size_t b = 0; b < r.batches.size(); ++b) {
    EXPECT_EQ(r.batches[b].size, 4u);
    if (b + 1 < r.batches.size()) {
      EXPECT_EQ(r.batches[b].start_ns, static_cast<TimeNs>(b) * 62'500'000 + 50 * kNsPerMs);
    }
  }
  EXPECT_EQ(r.batches.back().start_ns, r.arrivals.back());
  const Summary sum = summarize(r);
  EXPECT_EQ(sum.latency_s.max, 0.055);
  EXPECT_EQ(r.batches[0].end_ns - r.arrivals[3], 8'125'000);
}

TEST(Engine, TimeoutFillsToNWhenArrivalsAreFast) {
  // At 1000 Hz, 16 arrive within 15 ms, before the 50 ms deadline: batches of 16.
  Sim s;
  const RunResult r = s.run("timeout:16:50ms", 160, 1000);
  ASSERT_EQ(r.batches.size(), 10u);
  for (const BatchRecord& b : r.batches) EXPECT_EQ(b.size, 16u);
  EXPECT_EQ(summarize(r).latency_s.max, ns_to_s(15 * kNsPerMs + kService));
}

TEST(Engine, NeverDropsThePartialBatch) {
  Sim s;
  const RunResult r = s.run("fixed:16", 100);
  EXPECT_EQ(r.completed(), 100u);
  ASSERT_EQ(r.batches.size(), 7u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.batches[i].size, 16u);
  EXPECT_EQ(r.batches[6].size, 4u);
  // The last four are sent as soon as the last request has arrived.
  EXPECT_EQ(r.batches[6].start_ns, r.arrivals[99]);
}

TEST(Engine, QueueBuildsWhenServiceIsSlowerThanArrivals) {
  // 20 ms service for one request every 15.625 ms under fixed:1: the queue grows by
  // 4.375 ms per request; request i completes at 20 ms x (i + 1).
  VirtualClock clock;
  SyntheticBackend slow(SyntheticParams{20 * kNsPerMs, 0}, clock);
  NoMeter none("test");
  auto p = parse_policy("fixed:1");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), 64, 100, 1), *p, slow, none, clock);
  EXPECT_EQ(r.batches[99].end_ns, 2000 * kNsPerMs);
  EXPECT_EQ(summarize(r).latency_s.max, ns_to_s(2000 * kNsPerMs - 99 * kGap64));
}

TEST(Engine, ModelledEnergyInClosedForm) {
  Sim s;
  ModelledMeter meter(50, 150);
  const RunResult r = s.run("fixed:16", 512, 64, &meter);
  const Energy& e = r.energy;
  const double window = 511.0 / 64.0 + 0.005;
  EXPECT_TRUE(e.measured);
  EXPECT_EQ(e.method, "modelled");
  EXPECT_DOUBLE_EQ(e.window_s, window);
  EXPECT_DOUBLE_EQ(*e.joules, 50 * window + 100 * 32 * 0.005);
  EXPECT_EQ(*e.dynamic_per_image_j, 0.03125);
  EXPECT_DOUBLE_EQ(*e.per_image_j, *e.joules / 512);
  EXPECT_DOUBLE_EQ(*e.idle_power_w, 50);
  EXPECT_DOUBLE_EQ(*e.avg_power_w, *e.joules / window);
  EXPECT_DOUBLE_EQ(*e.peak_power_w, 150);
}

TEST(Engine, NoMeterSaysWhyAndReportsNoNumbers) {
  Sim s;
  const RunResult r = s.run("fixed:16", 32);
  EXPECT_FALSE(r.energy.measured);
  EXPECT_EQ(r.energy.method, "none");
  EXPECT_EQ(r.energy.reason, "test");
  EXPECT_FALSE(r.energy.joules.has_value());
  EXPECT_FALSE(r.energy.per_image_j.has_value());
}

class FailingBackend final : public Backend {
 public:
  explicit FailingBackend(std::size_t fail_at) : fail_at_(fail_at) {}
  void run(std::span<const Request>) override {
    if (calls_++ == fail_at_) throw std::runtime_error("out of memory");
  }
  std::string model() const override { return "failing"; }
  std::string device() const override { return "test"; }
  bool follows_clock() const override { return true; }

 private:
  std::size_t fail_at_;
  std::size_t calls_ = 0;
};

TEST(Engine, ABackendFailureKeepsWhatRanAndSaysWhere) {
  VirtualClock clock;
  FailingBackend backend(3);
  NoMeter none("test");
  auto p = parse_policy("fixed:16");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), 64, 128, 1), *p, backend, none, clock);
  EXPECT_EQ(r.batches.size(), 3u);
  EXPECT_EQ(r.completed(), 48u);
  EXPECT_NE(r.error.find("batch 3 (size 16"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("out of memory"), std::string::npos) << r.error;
}

// Records what the engine announces: each request arrives (in order) before its batch runs.
class AnnouncedBackend final : public Backend {
 public:
  void start_requests() override {
    ++starts;
    announced.clear();
  }
  void arrived(const Request& r) override { announced.push_back(r.id); }
  void run(std::span<const Request> batch) override {
    for (const Request& r : batch) {
      if (r.id >= announced.size() || announced[r.id] != r.id) unannounced_runs = true;
    }
  }
  std::vector<TimeNs> prepare_times() const override {
    std::vector<TimeNs> t(announced.size());
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<TimeNs>(i + 1) * kNsPerMs;
    return t;
  }
  std::string model() const override { return "announced"; }
  std::string device() const override { return "test"; }
  bool follows_clock() const override { return true; }

  int starts = 0;
  std::vector<std::uint64_t> announced;
  bool unannounced_runs = false;
};

TEST(Engine, EachRequestIsAnnouncedBeforeItsBatchAndItsPreparationIsKept) {
  VirtualClock clock;
  AnnouncedBackend backend;
  NoMeter none("test");
  auto p = parse_policy("fixed:8");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), 64, 100, 1), *p, backend, none, clock);
  EXPECT_EQ(backend.starts, 1);
  ASSERT_EQ(backend.announced.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(backend.announced[i], i);
  EXPECT_FALSE(backend.unannounced_runs);
  ASSERT_EQ(r.prepare_ns.size(), 100u);
  const Summary s = summarize(r);
  ASSERT_TRUE(s.prepare_s.has_value());
  EXPECT_DOUBLE_EQ(s.prepare_s->mean, 0.0505);  // (1 + ... + 100) ms / 100
  EXPECT_DOUBLE_EQ(s.prepare_s->max, 0.1);
  // A backend that prepares nothing leaves no summary.
  Sim plain;
  EXPECT_FALSE(summarize(plain.run("fixed:8", 16)).prepare_s.has_value());
}

class BrokenPolicy final : public BatchPolicy {
 public:
  Decision decide(std::span<const TimeNs>, TimeNs, bool) const override { return Decision::wait_for_arrival(); }
  std::string spec() const override { return "broken"; }
  std::size_t max_batch() const override { return 1; }
};

TEST(Engine, APolicyThatWouldHangIsCaughtInsteadOfLooping) {
  Sim s;
  BrokenPolicy p;
  EXPECT_THROW(run_engine(generate_schedule(parse_arrivals("constant"), 64, 4, 1), p, s.backend, s.none, s.clock),
               std::logic_error);
}

TEST(Engine, PoissonArrivalsAreAllServedInOrder) {
  VirtualClock clock;
  SyntheticBackend backend(SyntheticParams{2 * kNsPerMs, 100 * kNsPerUs}, clock);
  NoMeter none("test");
  auto p = parse_policy("timeout:32:20ms");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("poisson"), 500, 20'000, 9), *p, backend, none, clock);
  ASSERT_EQ(r.completed(), 20'000u);
  TimeNs prev_end = 0;
  std::uint64_t expect_first = 0;
  for (const BatchRecord& b : r.batches) {
    EXPECT_EQ(b.first_request, expect_first);
    EXPECT_GE(b.start_ns, prev_end);  // one batch at a time
    EXPECT_EQ(b.end_ns - b.start_ns, 2 * kNsPerMs + 100 * kNsPerUs * b.size);
    EXPECT_LE(b.size, 32u);
    // Nobody is dispatched before arriving, and nobody waits past the deadline unless the
    // server was busy.
    EXPECT_GE(b.start_ns, r.arrivals[b.first_request + b.size - 1]);
    if (b.start_ns > prev_end) {
      EXPECT_LE(b.start_ns - r.arrivals[b.first_request], 20 * kNsPerMs);
    }
    prev_end = b.end_ns;
    expect_first += b.size;
  }
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

TEST(Lateness, IsZeroOnTheVirtualClockForEveryPolicy) {
  for (const char* policy : {"fixed:16", "greedy:128", "timeout:16:20ms", "timeout:4:1ms"}) {
    VirtualClock clock;
    SyntheticBackend backend(SyntheticParams{3 * kNsPerMs, 50 * kNsPerUs}, clock);
    NoMeter none("test");
    auto p = parse_policy(policy);
    const RunResult r = run_engine(generate_schedule(parse_arrivals("poisson"), 300, 5000, 5), *p, backend, none, clock);
    for (const BatchRecord& b : r.batches) ASSERT_EQ(b.late_ns, 0) << policy << " batch at " << b.start_ns;
  }
}

// A virtual clock that wakes every sleeper `stall` late, as a loaded machine does.
class StallingClock final : public Clock {
 public:
  explicit StallingClock(TimeNs stall) : stall_(stall) {}
  TimeNs now() override { return now_; }
  void sleep_until(TimeNs t) override { now_ = std::max(now_, t + stall_); }
  bool is_virtual() const override { return true; }
  const char* name() const override { return "stalling"; }

 private:
  TimeNs stall_;
  TimeNs now_ = 0;
};

// Lateness is measured in the loop from the time the engine meant to act: the server became
// free, or the wake-up (arrival or timeout) it slept for.
TEST(Lateness, CountsFromTheWakeUpTheEngineMeant) {
  const std::vector<TimeNs> a = {0, 100, 200, 300, 400};
  auto run = [&](const char* policy, TimeNs service) {
    StallingClock clock(40);
    SyntheticBackend backend(SyntheticParams{service, 0}, clock);  // its service sleeps are stalled too
    NoMeter none("test");
    auto p = parse_policy(policy);
    return run_engine(a, *p, backend, none, clock);
  };
  // Greedy: request 0 goes at once (on time); every later one is woken for 40 ns late.
  RunResult r = run("greedy:128", 0);
  ASSERT_EQ(r.batches.size(), 5u);
  EXPECT_EQ(r.batches[0].late_ns, 0);
  for (std::size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(r.batches[i].start_ns, a[i] + 40);
    EXPECT_EQ(r.batches[i].late_ns, 40);
  }
  // Fixed:3: meant to go when the third arrives (200), went at 240; the last two at the end
  // of the stream (400), went at 440.
  r = run("fixed:3", 0);
  ASSERT_EQ(r.batches.size(), 2u);
  EXPECT_EQ(r.batches[0].start_ns, 240);
  EXPECT_EQ(r.batches[0].late_ns, 40);
  EXPECT_EQ(r.batches[1].start_ns, 440);
  EXPECT_EQ(r.batches[1].late_ns, 40);
  // Timeout 8/150ns: the oldest's deadline (150) overslept to 190.
  r = run("timeout:8:150ns", 0);
  ASSERT_GE(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0].start_ns, 190);
  EXPECT_EQ(r.batches[0].size, 2u);
  EXPECT_EQ(r.batches[0].late_ns, 40);
  // A backlog: service longer than the gaps, so each batch goes the moment the server is free,
  // without sleeping: never late.
  r = run("greedy:128", 250);
  for (std::size_t i = 1; i < r.batches.size(); ++i) {
    EXPECT_EQ(r.batches[i].start_ns, r.batches[i - 1].end_ns);
    EXPECT_EQ(r.batches[i].late_ns, 0);
  }
}

// The synthetic model's drift seam: service time grows by the fraction per second of the clock.
TEST(SyntheticBackend, DriftSlowsServiceWithTheClock) {
  const SyntheticParams p = parse_synthetic("synthetic:base=10ms,drift=0.5");
  EXPECT_EQ(synthetic_spec(p), "synthetic:base=10ms,per_item=0s,drift=0.5");
  VirtualClock clock;
  SyntheticBackend backend(p, clock);
  backend.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock.now(), 10 * kNsPerMs);  // at 0 s: as given
  clock.sleep_until(2 * kNsPerS);
  backend.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock.now(), 2 * kNsPerS + 20 * kNsPerMs);  // at 2 s: twice as slow
  EXPECT_THROW(parse_synthetic("synthetic:base=10ms,drift=-0.1"), UserError);
  EXPECT_THROW(parse_synthetic("synthetic:base=10ms,drift=fast"), UserError);
}

// The synthetic model's switch seam: from a batch size up, another cost per item.
TEST(SyntheticBackend, SwitchAtChangesTheCostPerItemFromThatSize) {
  const SyntheticParams p = parse_synthetic("synthetic:base=10ms,per_item=10ms,switch_at=16,per_item_from=3ms");
  EXPECT_EQ(synthetic_spec(p), "synthetic:base=10ms,per_item=10ms,switch_at=16,per_item_from=3ms");
  EXPECT_EQ(p.service_ns(15), 160 * kNsPerMs);
  EXPECT_EQ(p.service_ns(16), 58 * kNsPerMs);
  EXPECT_THROW(parse_synthetic("synthetic:base=10ms,switch_at=16"), UserError);        // without per_item_from
  EXPECT_THROW(parse_synthetic("synthetic:base=10ms,switch_at=1,per_item_from=1ms"), UserError);
}

// The synthetic model's stall: once, at the first batch that starts stall_at or more after the
// backend's first batch (on its clock, whenever that first batch was).
TEST(SyntheticBackend, StallsOnceAtTheFirstBatchFromItsStart) {
  const SyntheticParams p = parse_synthetic("synthetic:base=1ms,stall=1s@2s");
  EXPECT_EQ(p.stall_ns, kNsPerS);
  EXPECT_EQ(p.stall_at_ns, 2 * kNsPerS);
  EXPECT_EQ(synthetic_spec(p), "synthetic:base=1ms,per_item=0s,stall=1s@2s");
  EXPECT_EQ(synthetic_spec(parse_synthetic(synthetic_spec(p))), synthetic_spec(p));  // round trip
  VirtualClock clock;
  SyntheticBackend backend(p, clock);
  clock.sleep_until(5 * kNsPerS);  // the first batch at 5 s: the stall counts from here
  backend.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock.now(), 5 * kNsPerS + kNsPerMs);
  clock.sleep_until(7 * kNsPerS - 1);  // 1 ns short of 2 s after the first batch: no stall
  backend.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock.now(), 7 * kNsPerS - 1 + kNsPerMs);
  clock.sleep_until(7 * kNsPerS + 5 * kNsPerMs);  // the first batch past 2 s: 1 s longer
  backend.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock.now(), 8 * kNsPerS + 6 * kNsPerMs);
  backend.run(consecutive_requests(0, 1));  // once only
  EXPECT_EQ(clock.now(), 8 * kNsPerS + 7 * kNsPerMs);

  // At 0: the very first batch stalls.
  VirtualClock clock0;
  SyntheticBackend at0(parse_synthetic("synthetic:stall=250ms@0s"), clock0);
  at0.run(consecutive_requests(0, 1));
  EXPECT_EQ(clock0.now(), 250 * kNsPerMs);
}

TEST(SyntheticBackend, AStallIsDurationAtDuration) {
  for (const char* bad : {"synthetic:stall=1s", "synthetic:stall=1s@2s@3s", "synthetic:stall=@2s", "synthetic:stall=1s@"}) {
    try {
      parse_synthetic(bad);
      ADD_FAILURE() << bad;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("stall is DURATION@DURATION (e.g. stall=1s@2s"), std::string::npos)
          << bad << ": " << e.what();
    }
  }
  EXPECT_THROW(parse_synthetic("synthetic:stall=0s@2s"), UserError);  // no stall is no stall= at all
  EXPECT_THROW(parse_synthetic("synthetic:stall=1x@2s"), UserError);
  EXPECT_THROW(parse_synthetic("synthetic:stall=1s@-2s"), UserError);
  EXPECT_THROW(parse_synthetic("synthetic:stall=1s@2"), UserError);  // a unit is needed
}

}  // namespace
}  // namespace greenbatch
