// profile, simulate and tune: the simulator agrees with real runs of the synthetic backend, and
// tune finds an optimum derived by hand.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/latency_target.hpp"
#include "core/units.hpp"
#include "sim/measure.hpp"
#include "sim/replay.hpp"
#include "sim/simulate.hpp"
#include "sim/tune.hpp"
#include "io/records.hpp"
#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using testing::run_greenbatch;

Profile synthetic_profile(const std::string& model, std::vector<std::size_t> sizes = {1, 2, 4, 8, 16, 32, 64, 128}) {
  ProfileOptions o;
  o.spec.model = model;
  o.spec.clock = ClockKind::kVirtual;
  o.spec.meter = "modelled:idle=50W,busy=150W";
  o.batch_sizes = std::move(sizes);
  return measure_profile(o);
}

TEST(Profile, ASyntheticProfileIsExact) {
  const Profile p = synthetic_profile("synthetic:base=2ms,per_item=100us");
  ASSERT_EQ(p.points.size(), 8u);
  EXPECT_DOUBLE_EQ(*p.idle_power_w, 50.0);
  for (const ProfilePoint& pt : p.points) {
    const double service = 0.002 + 0.0001 * static_cast<double>(pt.batch_size);
    EXPECT_NEAR(pt.service_median_s, service, 1e-12);
    EXPECT_NEAR(*pt.dynamic_energy_per_batch_j, 100.0 * service, 1e-9);  // 100 W above idle while busy
    EXPECT_GE(pt.window_s, 1.0);                                          // the default 1 s window
    EXPECT_GE(pt.batches, 5u);
  }
  // After idleness: every default idle time measured, classed by the idleness each batch
  // actually followed (here exactly the planned one), with the same exact service time.
  for (const ProfilePoint& pt : p.points) {
    const double service = 0.002 + 0.0001 * static_cast<double>(pt.batch_size);
    ASSERT_EQ(pt.after_idle.size(), 4u);
    const double idle[] = {0.005, 0.020, 0.060, 0.200};
    for (std::size_t g = 0; g < 4; ++g) {
      EXPECT_NEAR(pt.after_idle[g].idle_s, idle[g], 1e-9);
      ASSERT_EQ(pt.after_idle[g].quantiles_s.size(), 101u);
      EXPECT_NEAR(pt.after_idle[g].quantiles_s.front(), service, 1e-12);
      EXPECT_NEAR(pt.after_idle[g].quantiles_s.back(), service, 1e-12);
    }
  }
  // Between and beyond the measured sizes: linear.
  EXPECT_NEAR(p.service_s(24), 0.002 + 0.0024, 1e-12);
  EXPECT_NEAR(p.service_s(256), 0.002 + 0.0256, 1e-12);
  const Profile back = Profile::from_json(p.to_json(), "round trip");
  EXPECT_EQ(back.points.size(), 8u);
  EXPECT_DOUBLE_EQ(back.service_s(24), p.service_s(24));
}

// A profile the simulator cannot use is refused on reading, naming the key (issue 18: empty
// after-idle quantiles crashed simulate; negative or huge idle power gave negative or infinite
// joules; unsorted, negative or non-finite quantiles were accepted).
TEST(Profile, CorruptFiguresAreRefusedNamingTheKey) {
  Profile p;
  ProfilePoint pt;
  pt.batch_size = 2;
  pt.service_median_s = 0.001;
  pt.quantiles_s = {0.001, 0.002};
  pt.after_idle = {{0.010, {0.002, 0.003}}};
  p.points = {pt};
  p.idle_power_w = 50;
  ASSERT_NO_THROW(Profile::from_json(p.to_json(), "good"));
  const auto refused = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& key) {
    nlohmann::json j = p.to_json();
    edit(j);
    try {
      Profile::from_json(j, "bad.json");
      ADD_FAILURE() << "accepted: " << j.dump();
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  const auto q = [](nlohmann::json& j) -> nlohmann::json& { return j["points"][0]["service_quantiles_s"]; };
  refused([&](nlohmann::json& j) { q(j)["after_idle"][0]["quantiles_s"] = nlohmann::json::array(); }, "after_idle[0].quantiles_s");
  refused([&](nlohmann::json& j) { q(j)["after_idle"][0]["quantiles_s"] = {0.003, 0.002}; }, "not ascending");
  refused([&](nlohmann::json& j) { q(j)["back_to_back"] = {-0.001, 0.002}; }, "back_to_back[0]");
  refused([&](nlohmann::json& j) { q(j)["back_to_back"] = {0.001, 1e300}; }, "back_to_back[1]");
  refused([&](nlohmann::json& j) { q(j)["after_idle"][0]["idle_s"] = 0; }, "idle_s");
  refused([](nlohmann::json& j) { j["idle_power_w"] = -50; }, "idle_power_w");
  refused([](nlohmann::json& j) { j["idle_power_w"] = 1e308; }, "idle_power_w");
  refused([](nlohmann::json& j) { j["points"][0]["batch_size"] = 0; }, "batch_size");
  refused([](nlohmann::json& j) { j["points"][0]["batch_size"] = -2; }, "batch_size");
  refused([](nlohmann::json& j) { j["points"].push_back(j["points"][0]); }, "measured twice");
  refused([](nlohmann::json& j) { j["points"][0]["service_s"]["median"] = -1; }, "service_s.median");
  refused([](nlohmann::json& j) { j["points"] = 5; }, "points");
}

class ProfileFile : public testing::TempDirTest {};

TEST_F(ProfileFile, DeepNestingIsRefusedBeforeParsing) {
  // 100,000 levels overflowed the stack inside the JSON parser.
  const std::string path = write("deep.json", std::string(100000, '[') + std::string(100000, ']'));
  try {
    load_profile(path);
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 64"), std::string::npos) << e.what();
  }
}

// A folder given as --profile was an internal error (a read of a directory).
TEST_F(ProfileFile, AFolderIsAClearError) {
  std::filesystem::create_directories(dir_);
  try {
    load_profile(dir_.string());
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("is a folder"), std::string::npos) << e.what();
  }
}

TEST(Profile, ServiceAfterIdlenessFollowsTheMeasuredIdleTimes) {
  Profile p;
  ProfilePoint pt;
  pt.batch_size = 1;
  pt.service_median_s = 0.001;
  pt.quantiles_s = {0.001, 0.001};
  pt.after_idle = {{0.010, {0.002, 0.002}}, {0.100, {0.004, 0.004}}};
  p.points = {pt};
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 0.0, 0.5), 0.001);     // back to back
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 0.0005, 0.5), 0.001);  // under 1 ms: still back to back
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 0.005, 0.5), 0.002);   // below the shortest measured: that one
  EXPECT_NEAR(p.draw_service_s(1, std::sqrt(0.010 * 0.100), 0.5), 0.003, 1e-12);  // halfway in log time
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 1.0, 0.5), 0.004);     // beyond the longest: that one
  // Smoothing (0.5 by default): a quarter of the draws for each measured idle time come from
  // each neighbour; at either end, a quarter from its one neighbour.
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 0.005, 0.5, 0.9), 0.004);   // the 10 ms one's neighbour above
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 0.005, 0.5, 0.1), 0.002);   // no neighbour below: its own
  EXPECT_DOUBLE_EQ(p.draw_service_s(1, 1.0, 0.5, 0.1), 0.002);     // the 100 ms one's neighbour below
  EXPECT_NEAR(p.draw_service_s(1, std::sqrt(0.010 * 0.100), 0.5, 0.9), 0.004, 1e-12);  // both sides' picks
  Profile raw = p;
  raw.idle_smoothing = 0;
  EXPECT_DOUBLE_EQ(raw.draw_service_s(1, 0.005, 0.5, 0.9), 0.002);  // off: always its own
  // Profiles written before several idle times were measured still load: one distribution.
  nlohmann::json old = p.to_json();
  old["points"][0]["service_quantiles_s"]["after_idle"] = {0.003, 0.003};
  old["points"][0]["after_idle_gap_s"] = 0.2;
  const Profile back = Profile::from_json(old, "old profile");
  ASSERT_EQ(back.points[0].after_idle.size(), 1u);
  EXPECT_DOUBLE_EQ(back.points[0].after_idle[0].idle_s, 0.2);
  EXPECT_DOUBLE_EQ(back.draw_service_s(1, 0.05, 0.5), 0.003);
  EXPECT_EQ(Profile::from_json(p.to_json(), "new").points[0].after_idle.size(), 2u);
}

// A model whose cost per item drops at batch 16 (10 ms up to 15, 3 ms from 16), profiled at
// powers of two: the line from 8 (90 ms) to 16 (58 ms) says 74 ms at 12, where it takes 130.
// The scan finds 12, 14 and 15 off the line and measures them; 10, 13 and 24 lie on it.
TEST(Profile, RefineMeasuresWhereTheLineBetweenSizesBreaks) {
  const std::string model = "synthetic:base=10ms,per_item=10ms,switch_at=16,per_item_from=3ms";
  const Profile p = synthetic_profile(model, {1, 2, 4, 8, 16, 32});
  std::vector<std::size_t> sizes;
  for (const ProfilePoint& pt : p.points) sizes.push_back(pt.batch_size);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 2, 4, 8, 12, 14, 15, 16, 32}));
  const nlohmann::json& r = p.meta.at("refine");
  EXPECT_EQ(r["added"], nlohmann::json({12, 14, 15}));
  EXPECT_FALSE(r["stopped_at_limit"].get<bool>());
  // Every size from 1 to 32 now simulated as it runs, within the line's rounding.
  const SyntheticParams truth = parse_synthetic(model);
  for (std::size_t b = 4; b <= 32; ++b) {
    EXPECT_NEAR(p.service_s(b), ns_to_s(truth.service_ns(b)), 1e-9) << "batch " << b;
  }
  // Without the scan: exactly the sizes given, and 12 is off by the line's 44 %.
  ProfileOptions o;
  o.spec.model = model;
  o.spec.clock = ClockKind::kVirtual;
  o.spec.meter = "modelled:idle=50W,busy=150W";
  o.batch_sizes = {1, 2, 4, 8, 16, 32};
  o.refine = 0;
  const Profile plain = measure_profile(o);
  EXPECT_EQ(plain.points.size(), 6u);
  EXPECT_FALSE(plain.meta.contains("refine"));
  EXPECT_NEAR(plain.service_s(12), 0.074, 1e-9);
  // A limit on the sizes added: the first one, and the record says the scan stopped.
  o.refine = 0.15;
  o.refine_max = 1;
  const Profile one = measure_profile(o);
  EXPECT_EQ(one.points.size(), 7u);
  EXPECT_EQ(one.meta["refine"]["added"], nlohmann::json({12}));
  EXPECT_TRUE(one.meta["refine"]["stopped_at_limit"].get<bool>());
  o.refine = -0.1;
  EXPECT_THROW(measure_profile(o), UserError);
}

// Sizes 1, 2, 4 and 8 of `model` on the virtual clock, 2 s each back to back, no idle times.
Profile profile_in_rounds(const std::string& model, std::size_t rounds) {
  ProfileOptions o;
  o.spec.model = model;
  o.spec.clock = ClockKind::kVirtual;
  o.spec.meter = "modelled:idle=50W,busy=150W";
  o.batch_sizes = {1, 2, 4, 8};
  o.min_window_ns = 2 * kNsPerS;
  o.idle_gaps_ns.clear();
  o.rounds = rounds;
  return measure_profile(o);
}

// On a machine that gets slower as the profile goes on (2 % per second here), sizes measured one
// after another come out as if later sizes were slower; in rounds over the sizes, every size is
// measured across the whole profile and they come out alike. Energy and windows pool correctly.
TEST(Profile, RoundsMeasureEverySizeAcrossAMachineThatDrifts) {
  auto measure = [](std::size_t rounds) {
    return profile_in_rounds("synthetic:base=20ms,per_item=0ms,drift=0.02", rounds);  // every size 20 ms at the start
  };
  auto spread = [](const Profile& p) {  // slowest median over fastest, less one
    double lo = 1e9, hi = 0;
    for (const ProfilePoint& pt : p.points) {
      lo = std::min(lo, pt.service_median_s);
      hi = std::max(hi, pt.service_median_s);
    }
    return hi / lo - 1;
  };
  const Profile one = measure(1), four = measure(4);
  EXPECT_GT(spread(one), 0.10);  // size 8 measured about 6 s after size 1
  EXPECT_LT(spread(four), spread(one) / 3);
  EXPECT_EQ(four.meta["rounds"], 4);
  for (std::size_t i = 0; i < 4; ++i) {
    const ProfilePoint& a = one.points[i];
    const ProfilePoint& b = four.points[i];
    EXPECT_GE(b.window_s, 2.0);  // the rounds' windows add up to the window asked for
    EXPECT_NEAR(static_cast<double>(b.batches), static_cast<double>(a.batches), 0.1 * static_cast<double>(a.batches));
    // The modelled meter: 100 W above idle while busy, so per batch 100 W x the mean service time.
    EXPECT_NEAR(*b.dynamic_energy_per_batch_j, 100.0 * b.service_mean_s, 1e-6);
  }
}

// The rounds also show how far the machine moved while it was profiled: each size's median and
// p90 per round, and the largest spread between rounds. Exactly none on a steady machine.
TEST(Profile, RoundsRecordHowFarTheMachineMovedWhileProfiled) {
  const Profile drifting = profile_in_rounds("synthetic:base=20ms,per_item=0ms,drift=0.02", 4);
  const nlohmann::json& st = drifting.meta.at("stability");
  const auto medians = st["round_medians_s"]["1"].get<std::vector<double>>();
  ASSERT_EQ(medians.size(), 4u);
  for (std::size_t r = 1; r < medians.size(); ++r) EXPECT_GT(medians[r], medians[r - 1]);  // later rounds slower
  EXPECT_EQ(st["round_p90s_s"]["1"].size(), 4u);  // 25 batches of 20 ms a round: enough for a p90
  EXPECT_GT(st["median_spread"].get<double>(), 0.10);  // about 6 s at 2 % per second
  EXPECT_GT(st["p90_spread"].get<double>(), 0.10);
  const Profile steady = profile_in_rounds("synthetic:base=20ms,per_item=1ms", 4);
  EXPECT_EQ(steady.meta.at("stability")["median_spread"].get<double>(), 0.0);
  EXPECT_EQ(steady.meta.at("stability")["p90_spread"].get<double>(), 0.0);
  EXPECT_FALSE(profile_in_rounds("synthetic:base=20ms,per_item=1ms", 1).meta.contains("stability"));  // one round: nothing to compare
}

// The bursts after idleness: steady (the default) measures each idle time in one stretch per
// round, as a run sees it; shuffled mixes them. On a machine that drifts, steady stretches show
// as different medians per idle time, shuffled ones as nearly the same.
TEST(Profile, SteadyIdleStretchesAreMeasuredOneIdleTimeAtATime) {
  auto measure = [](bool steady) {
    ProfileOptions o;
    o.spec.model = "synthetic:base=20ms,per_item=0ms,drift=0.005";
    o.spec.clock = ClockKind::kVirtual;
    o.spec.meter = "modelled:idle=50W,busy=150W";
    o.batch_sizes = {4};
    o.steady_idle = steady;
    const Profile p = measure_profile(o);
    EXPECT_EQ(p.meta["idle_order"], steady ? "steady" : "shuffled");
    double lo = 1e9, hi = 0;
    for (const auto& a : p.points[0].after_idle) {
      lo = std::min(lo, a.quantiles_s[50]);
      hi = std::max(hi, a.quantiles_s[50]);
    }
    EXPECT_EQ(p.points[0].after_idle.size(), 4u);
    return hi / lo - 1;
  };
  const double steady = measure(true), shuffled = measure(false);
  EXPECT_GT(steady, 0.01);  // stretches seconds apart at 0.5 % per second
  EXPECT_LT(shuffled, steady / 3);
}

TEST(Profile, RoundsTooShortForASensorOrNoneAreClearErrors) {
  ProfileOptions o;
  o.spec.model = "synthetic:base=1ms";
  o.spec.meter = "rapl";
  o.min_window_ns = 2 * kNsPerS;
  o.rounds = 3;  // 0.67 s each: too short for a sensor's ten updates
  try {
    measure_profile(o);
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--rounds 3: splits --min-window 2 s into windows of"), std::string::npos)
        << e.what();
  }
  o.rounds = 0;
  EXPECT_THROW(measure_profile(o), UserError);
}

TEST(Simulate, EqualsARunOfTheSyntheticBackend) {
  const std::string model = "synthetic:base=2ms,per_item=100us";
  const Profile p = synthetic_profile(model);
  for (const char* policy : {"fixed:16", "greedy:128", "timeout:8:20ms", "fixed:3"}) {
    for (const char* arrivals : {"constant", "poisson", "bursty"}) {
      RunSpec s;
      s.model = model;
      s.clock = ClockKind::kVirtual;
      s.meter = "modelled:idle=50W,busy=150W";
      s.rate_hz = 300;
      s.arrivals = arrivals;
      s.policy = policy;
      s.requests = 3000;
      s.requests_given = true;
      s.seed = 5;
      PreparedRun real(s);
      const RunRecord r = real.execute().record;
      const RunRecord m = simulate_run(p, s).record;
      SCOPED_TRACE(std::string(policy) + " " + arrivals);
      EXPECT_EQ(m.summary->batches, r.summary->batches);
      for (auto [a, b] : {std::pair{m.summary->latency_s.p99, r.summary->latency_s.p99},
                          std::pair{m.summary->latency_s.max, r.summary->latency_s.max},
                          std::pair{m.summary->latency_s.mean, r.summary->latency_s.mean},
                          std::pair{*m.energy->per_image_j, *r.energy->per_image_j}}) {
        EXPECT_NEAR(a, b, 0.01 * b);
      }
    }
  }
}

TEST(Simulate, ASlowdownStretchesTheServiceOfTheBatchesThatStartInIt) {
  // An exact profile (2 ms + 0.1 ms per image), fixed:10 at 1000/s constant (a batch every 10 ms):
  // a stretch x3 from 1 s for 1 s triples the service of the batches that start in it, and only
  // theirs; x2 over the whole run doubles every one, and their energy above idle with it.
  const std::string model = "synthetic:base=2ms,per_item=100us";
  const Profile p = synthetic_profile(model);
  RunSpec s;
  s.model = model;
  s.clock = ClockKind::kVirtual;
  s.rate_hz = 1000;
  s.arrivals = "constant";
  s.policy = "fixed:10";
  s.requests = 3000;
  s.requests_given = true;
  const RunOutcome plain = simulate_run(p, s);
  const RunOutcome stretch = simulate_run(p, s, parse_slowdown("x3@1s+1s"));
  const RunOutcome whole = simulate_run(p, s, parse_slowdown("x2"));
  ASSERT_EQ(plain.result.batches.size(), 300u);
  ASSERT_EQ(stretch.result.batches.size(), 300u);
  ASSERT_EQ(whole.result.batches.size(), 300u);
  std::size_t slowed = 0;
  for (std::size_t i = 0; i < 300; ++i) {
    const auto service = [&](const RunOutcome& o) {
      const BatchRecord& b = o.result.batches[i];
      return ns_to_s(b.end_ns - b.start_ns);
    };
    const TimeNs start = stretch.result.batches[i].start_ns;
    const bool in_stretch = start >= 1'000'000'000 && start < 2'000'000'000;
    slowed += in_stretch;
    EXPECT_NEAR(service(stretch), service(plain) * (in_stretch ? 3 : 1), 1e-9) << "batch " << i;
    EXPECT_NEAR(service(whole), 2 * service(plain), 1e-9) << "batch " << i;
  }
  EXPECT_EQ(slowed, 100u);  // a second of batches every 10 ms (each 3 ms: the server keeps up)
  EXPECT_NEAR(*whole.record.energy->dynamic_per_image_j, 2 * *plain.record.energy->dynamic_per_image_j, 1e-9);
  EXPECT_EQ(whole.record.backend.value("slowdown", ""), "x2");
  EXPECT_FALSE(plain.record.backend.contains("slowdown"));
}

TEST(Simulate, ASlowdownIsReadStrictlyAndOverlappingStretchesMultiply) {
  const Slowdown d = parse_slowdown("x2@1s+2s,x1.5@2s+2s,x0.5");
  EXPECT_DOUBLE_EQ(d.factor_at(0), 0.5);
  EXPECT_DOUBLE_EQ(d.factor_at(1'500'000'000), 1.0);
  EXPECT_DOUBLE_EQ(d.factor_at(2'500'000'000), 1.5);
  EXPECT_DOUBLE_EQ(d.factor_at(3'500'000'000), 0.75);
  EXPECT_DOUBLE_EQ(d.factor_at(4'000'000'000), 0.5);  // a stretch ends before its end
  for (const char* bad : {"", "2", "x", "xfast", "x0", "x1000", "x2@5s", "x2@5s+0s", "x2@5+1s", "x2@-1s+1s", "x2,y3"}) {
    SCOPED_TRACE(bad);
    try {
      parse_slowdown(bad);
      ADD_FAILURE() << "accepted";
    } catch (const UserError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("--slowdown"), std::string::npos) << what;
      EXPECT_NE(what.find("accepted: xF"), std::string::npos) << what;
    }
  }
}

class Tune : public testing::TempDirTest {};

TEST_F(Tune, FindsTheOptimumDerivedByHand) {
  // Service 10 ms + 1 ms per image; 100 requests/s, constant. fixed:N waits for N arrivals
  // (10 ms apart) and serves them in 10 + N ms, so its oldest request waits 10 (N - 1) + 10 + N
  // = 11 N ms; the energy per image above idle, 100 W x (10 + N) ms / N, falls with N. Under a
  // 200 ms maximum the optimum is the largest N with 11 N <= 200: N = 18 (198 ms).
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  const std::string file = write("p.json", p.to_json().dump());
  const auto r = run_greenbatch("tune --profile " + file + " --rate 100 --slo max=200ms --top 3 --requests 512");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto line = r.output.find("\nfixed:18 ");
  ASSERT_NE(line, std::string::npos) << r.output;
  const auto header = r.output.find("policy");
  EXPECT_LT(header, line);
  EXPECT_EQ(r.output.find('\n', header) , line) << "fixed:18 is not first:\n" << r.output;
  EXPECT_NE(r.output.find("198 ms"), std::string::npos) << r.output;
  // A target no policy can meet is a clear answer, not a crash.
  const auto none = run_greenbatch("tune --profile " + file + " --rate 100 --slo max=5ms");
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.output.find("no policy meets the target"), std::string::npos) << none.output;
}

TEST_F(Tune, ASlowerMachineMovesTheOptimumDerivedByHand) {
  // As FindsTheOptimumDerivedByHand on a machine twice as slow: a batch of N takes 20 + 2 N ms,
  // so the oldest waits 10 (N - 1) + 20 + 2 N = 12 N + 10 ms; under 200 ms, N = 15 (190 ms).
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  const std::string file = write("p.json", p.to_json().dump());
  const std::string tune = "tune --profile " + file + " --rate 100 --slo max=200ms --top 3 --requests 512";
  const auto r = run_greenbatch(tune + " --slowdown x2");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto header = r.output.find("policy ");
  ASSERT_NE(header, std::string::npos) << r.output;
  EXPECT_EQ(r.output.substr(r.output.find('\n', header) + 1, 9), "fixed:15 ") << r.output;
  EXPECT_NE(r.output.find("190 ms"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("slower than the profile: --slowdown x2"), std::string::npos) << r.output;
  // simulate says it too, and records it.
  const auto sim = run_greenbatch("simulate --profile " + file + " --rate 100 --policy fixed:15 --arrivals constant "
                                  "--requests 512 --slowdown x2 --out " + (dir_ / "sim").string());
  ASSERT_EQ(sim.code, 0) << sim.output;
  const auto records = read_jsonl((dir_ / "sim" / "runs.jsonl").string());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["backend"]["slowdown"], "x2");
  EXPECT_NEAR(records[0]["latency_s"]["max"].get<double>(), 0.190, 1e-6);
  // Refused, saying why: a bad slowdown, one with --verify (real runs), stretches with --oracle.
  const auto bad = run_greenbatch(tune + " --slowdown 2");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("a slowdown starts with x"), std::string::npos) << bad.output;
  const auto verify = run_greenbatch(tune + " --slowdown x2 --verify --out " + (dir_ / "v").string());
  EXPECT_NE(verify.code, 0);
  EXPECT_NE(verify.output.find("--slowdown with --verify"), std::string::npos) << verify.output;
  const auto oracle = run_greenbatch("tune --profile " + file + " --arrivals steps:20@10s,100@10s --slo max=200ms "
                                     "--oracle --slowdown x2@5s+1s");
  EXPECT_NE(oracle.code, 0);
  EXPECT_NE(oracle.output.find("not stretches"), std::string::npos) << oracle.output;
}

// A profile measured with the CPU-time estimate (no sensor) simulates estimated energy, labelled so.
TEST_F(Tune, AProfileOfEstimatedEnergySimulatesEstimatedEnergy) {
  Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 8, 32});
  RunSpec s;
  s.model = p.model;
  s.rate_hz = 100;
  s.policy = "fixed:8";
  s.requests = 64;
  s.requests_given = true;
  const RunRecord measured = simulate_run(p, s).record;
  EXPECT_TRUE(measured.energy->measured);
  EXPECT_FALSE(measured.energy->estimated);
  p.meta["energy_estimated"] = true;
  const RunRecord estimated = simulate_run(p, s).record;
  EXPECT_FALSE(estimated.energy->measured);
  EXPECT_TRUE(estimated.energy->estimated);
  EXPECT_DOUBLE_EQ(*estimated.energy->joules, *measured.energy->joules);  // the same figure, labelled
  EXPECT_NE(estimated.energy->reason.find("estimated from CPU time"), std::string::npos);
  const std::string file = write("est.json", p.to_json().dump());
  const auto r = run_greenbatch("tune --profile " + file + " --rate 100 --slo max=200ms --top 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("energy ESTIMATED"), std::string::npos) << r.output;
}

// tune --verify runs the best three several times (interleaved, seed + r), and the measured pick
// is judged against the noise of its repetitions as recommend judges it.
TEST_F(Tune, VerifyRepeatsTheBestAndJudgesTheMeasuredPickAgainstTheNoise) {
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  const std::string file = write("p.json", p.to_json().dump());
  const std::string out = (dir_ / "verified").string();
  const auto r = run_greenbatch("tune --profile " + file + " --rate 100 --slo max=200ms --requests 100 --verify "
                                "--verify-repetitions 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 run(s) of each"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("measured pick: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Welch's t"), std::string::npos) << r.output;
  std::ifstream in(out + "/runs.jsonl");
  std::map<int, int> by_rep;
  std::set<std::uint64_t> seeds;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    ++by_rep[j["repetition"].get<int>()];
    seeds.insert(j["seed"].get<std::uint64_t>());
  }
  EXPECT_EQ(by_rep, (std::map<int, int>{{0, 3}, {1, 3}}));
  EXPECT_EQ(seeds, (std::set<std::uint64_t>{1, 2}));
  // One run each: the verdict says the difference is unchecked.
  const auto once = run_greenbatch("tune --profile " + file + " --rate 100 --slo max=200ms --requests 100 --verify "
                                   "--verify-repetitions 1 --out " + (dir_ / "once").string());
  ASSERT_EQ(once.code, 0) << once.output;
  EXPECT_NE(once.output.find("unchecked"), std::string::npos) << once.output;
}

// tune over profiles of one model measured with other knobs (each profile's backend.knobs and
// agreement): the least energy (policy, knobs) within the agreement tolerance, and each knob
// set's best against fp32's.
TEST_F(Tune, SearchesPoliciesAndKnobsTogetherWithinTheAgreementTolerance) {
  const auto profile_with = [&](const char* spec, const char* knobs, std::optional<double> top1, const char* name) {
    Profile p = synthetic_profile(spec);
    p.model = "net";
    p.meta["backend"]["knobs"] = parse_knobs(knobs).to_json();
    if (top1) p.meta["backend"]["agreement"] = {{"top1_agreement", *top1}};
    return write(name, p.to_json().dump());
  };
  const std::string fp32 = profile_with("synthetic:base=10ms,per_item=1ms", "fp32", std::nullopt, "fp32.json");
  const std::string bf16 = profile_with("synthetic:base=10ms,per_item=500us", "precision=bf16", 1.0, "bf16.json");
  const std::string int8 = profile_with("synthetic:base=5ms,per_item=250us", "precision=int8", 2.0 / 3, "int8.json");
  const std::string all = fp32 + "," + bf16 + "," + int8;
  // 512 requests a candidate: a constant load on deterministic profiles repeats itself after the
  // first batches, and three knob sets of the whole grid twice is minutes under ThreadSanitizer.
  const auto r = run_greenbatch("tune --profile " + all + " --rate 100 --slo max=200ms --top 3 --requests 512");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tune: 3 knob sets of net"), std::string::npos) << r.output;
  const auto header = r.output.find("\npolicy ");
  const auto first = r.output.substr(r.output.find('\n', header + 1) + 1, 80);
  EXPECT_NE(first.find("bf16"), std::string::npos) << r.output;  // int8 loses a top-1 of three
  EXPECT_NE(r.output.find("(excluded: below --min-agreement 100 %)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("each knob set's best against fp32's:"), std::string::npos) << r.output;
  const auto loose =
      run_greenbatch("tune --profile " + all + " --rate 100 --slo max=200ms --min-agreement 60 --requests 512");
  ASSERT_EQ(loose.code, 0) << loose.output;
  const auto h = loose.output.find("\npolicy ");
  EXPECT_NE(loose.output.substr(loose.output.find('\n', h + 1) + 1, 80).find("int8"), std::string::npos) << loose.output;
  // Profiles of two models, two of the same knobs, or --oracle with several: clear refusals.
  Profile other = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  const std::string other_file = write("other.json", other.to_json().dump());
  EXPECT_NE(run_greenbatch("tune --profile " + fp32 + "," + other_file).output.find("takes profiles of one model"),
            std::string::npos);
  EXPECT_NE(run_greenbatch("tune --profile " + fp32 + "," + fp32).output.find("two profiles with knobs fp32"),
            std::string::npos);
  EXPECT_NE(run_greenbatch("tune --oracle --profile " + fp32 + "," + bf16).output.find("--oracle and --verify take one"),
            std::string::npos);
}

TEST(TuneLibrary, FindsTheOptimumDerivedByHandAndEveryCandidateMeetsTheTarget) {
  // As Tune.FindsTheOptimumDerivedByHand, through the library: fixed:18 (198 ms) is the least
  // energy under a 200 ms maximum.
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  TuneInput in;
  in.rate_hz = 100;
  in.requests = 512;  // the constant load repeats itself after its first batches
  in.target = parse_latency_target("max=200ms");
  in.jobs = 2;
  const TuneResult r = tune(p, in);
  EXPECT_EQ(r.simulated, tune_candidates(TuneSpace{in.cap, tune_delays(in.target), in.target.text}).size());
  EXPECT_EQ(r.jobs, 2u);
  ASSERT_FALSE(r.meeting.empty());
  EXPECT_EQ(r.meeting.front().policy, "fixed:18");
  EXPECT_NEAR(r.meeting.front().max_s, 0.198, 1e-6);
  for (std::size_t i = 0; i < r.meeting.size(); ++i) {
    const TuneCandidate& c = r.meeting[i];
    SCOPED_TRACE(c.policy);
    EXPECT_LE(c.latency_s, in.target.limit_s());
    EXPECT_EQ(c.latency_s, c.max_s);  // the target's figure is the maximum
    if (i > 0) {
      EXPECT_LE(r.meeting[i - 1].energy_per_image_j, c.energy_per_image_j);
    }
  }
  // Any number of jobs: the same candidates in the same order.
  in.jobs = 1;
  const TuneResult one = tune(p, in);
  ASSERT_EQ(one.meeting.size(), r.meeting.size());
  for (std::size_t i = 0; i < r.meeting.size(); ++i) {
    EXPECT_EQ(one.meeting[i].policy, r.meeting[i].policy);
    EXPECT_EQ(one.meeting[i].energy_per_image_j, r.meeting[i].energy_per_image_j);
  }
  // A target no policy can meet: none, not an error.
  in.target = parse_latency_target("max=5ms");
  EXPECT_TRUE(tune(p, in).meeting.empty());
  // A profile without energy figures cannot be tuned.
  Profile no_energy = p;
  for (ProfilePoint& pt : no_energy.points) pt.dynamic_energy_per_batch_j.reset();
  EXPECT_THROW(tune(no_energy, in), UserError);
}

TEST_F(Tune, SimulateLibraryReturnsAndWritesEveryRecord) {
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 16, 128});
  SimulateInput in;
  in.profiles.push_back({"p.json", p, std::nullopt});
  in.plan = plan_simulations("16,64", "fixed:16,greedy:128", "constant", 256, 1);
  in.out = (dir_ / "sim").string();
  std::size_t called = 0;
  const SimulateResult r = simulate(in, [&called](const SimulatedRun&) { ++called; });
  ASSERT_EQ(r.runs.size(), 4u);
  EXPECT_EQ(called, 4u);
  EXPECT_EQ(r.requests, 4u * 256);
  EXPECT_EQ(r.runs[1].spec.rate_hz, 16);
  EXPECT_EQ(r.runs[1].record.policy, "greedy:128");
  EXPECT_EQ(r.runs[3].record.profile, "p.json");
  EXPECT_TRUE(r.runs[0].record.simulated);
  EXPECT_EQ(read_jsonl((dir_ / "sim" / "runs.jsonl").string()).size(), 4u);
  // Checked before anything runs: --requests-out takes one run.
  in.requests_out = (dir_ / "requests.csv").string();
  in.out = (dir_ / "sim2").string();
  EXPECT_THROW(simulate(in), UserError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "sim2" / "runs.jsonl"));
  EXPECT_THROW(plan_simulations("0", "fixed:1", "constant", 8, 1), UserError);
  EXPECT_THROW(check_idle_smoothing(2), UserError);
}

TEST_F(Tune, ProfileSaysWhichSizesItsScanAddedAndWhy) {
  const std::string cmd = "profile --model synthetic:base=10ms,per_item=10ms,switch_at=16,per_item_from=3ms --clock virtual "
                          "--meter modelled:idle=50W,busy=150W --batch-sizes 4,8,16 --idle-gaps 5ms --out " +
                          (dir_ / "p.json").string();
  const auto r = run_greenbatch(cmd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("refine: measured 3 more size(s) where the line between neighbours missed by over 15 %: 12 took "
                          "130 ms where the line from 8 to 16 gives 74 ms (+76 %)"),
            std::string::npos)
      << r.output;
  const auto plain = run_greenbatch(cmd + " --refine 0");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_EQ(plain.output.find("refine:"), std::string::npos) << plain.output;
  const auto bad = run_greenbatch(cmd + " --refine -1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("--refine -1: the share by which a midpoint may miss the line"), std::string::npos) << bad.output;
}

TEST_F(Tune, ProfileWarnsWhenTheMachineChangedSpeedWhileProfiled) {
  const std::string cmd = "profile --clock virtual --meter modelled:idle=50W,busy=150W --batch-sizes 1,4 --idle-gaps 5ms "
                          "--min-window 2s --rounds 4 --model ";
  const std::string moved = (dir_ / "moved.json").string(), still = (dir_ / "still.json").string();
  const auto drifting = run_greenbatch(cmd + "synthetic:base=20ms,per_item=0ms,drift=0.02 --out " + moved);
  ASSERT_EQ(drifting.code, 0) << drifting.output;
  EXPECT_NE(drifting.output.find("stability: between the 4 rounds, each size's back-to-back service moved: its median by "
                                 "up to "),
            std::string::npos)
      << drifting.output;
  EXPECT_NE(drifting.output.find("warning: the machine's speed changed by over 10 % while it was profiled"), std::string::npos)
      << drifting.output;
  const auto steady = run_greenbatch(cmd + "synthetic:base=20ms,per_item=1ms --out " + still);
  ASSERT_EQ(steady.code, 0) << steady.output;
  EXPECT_NE(steady.output.find("its median by up to 0.0 % (batch 1), its p90 by up to 0.0 % (batch 1)"), std::string::npos)
      << steady.output;
  EXPECT_EQ(steady.output.find("warning:"), std::string::npos) << steady.output;
  // simulate and tune say so of a profile that moved, and only of that one.
  const std::string sim = " --rate 10 --policy fixed:1 --requests 20 --out " + (dir_ / "sim").string();
  const auto both = run_greenbatch("simulate --profile " + moved + "," + still + sim);
  ASSERT_EQ(both.code, 0) << both.output;
  EXPECT_NE(both.output.find("note: profile " + moved + " saw the machine's speed change by up to "), std::string::npos)
      << both.output;
  EXPECT_EQ(both.output.find("note: profile " + still), std::string::npos) << both.output;
  const auto tune = run_greenbatch("tune --profile " + moved + " --rate 10 --slo p99=1s --cap 4");
  ASSERT_EQ(tune.code, 0) << tune.output;
  EXPECT_NE(tune.output.find("note: profile " + moved + " saw the machine's speed change"), std::string::npos) << tune.output;
  // A stability record edited by hand into something else is no reason to fail or to note.
  Profile odd = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 4});
  odd.meta["stability"] = {{"median_spread", "large"}, {"p90_spread", 0.5}};  // no batch sizes
  const auto edited = run_greenbatch("simulate --profile " + write("odd.json", odd.to_json().dump()) + sim);
  ASSERT_EQ(edited.code, 0) << edited.output;
  EXPECT_EQ(edited.output.find("note:"), std::string::npos) << edited.output;
}

TEST_F(Tune, AnyNumberOfJobsPrintsTheSameTable) {
  // A profile whose draws are random (spread back to back and after idleness) under jittered
  // arrivals: one job and three must simulate every policy alike and gather them in one order.
  Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 8, 32});
  for (ProfilePoint& pt : p.points) {
    const double m = pt.service_median_s;
    pt.quantiles_s = {0.8 * m, m, 1.5 * m};
    pt.after_idle = {{0.005, {m, 1.2 * m, 2 * m}}, {0.1, {1.1 * m, 1.4 * m, 3 * m}}};
  }
  const std::string file = write("p.json", p.to_json().dump());
  const std::string cmd = "tune --profile " + file + " --rate 50 --arrivals jitter:0.3 --slo p99=150ms --cap 32 --top 40";
  const auto one = run_greenbatch(cmd + " --jobs 1");
  const auto three = run_greenbatch(cmd + " --jobs 3");
  ASSERT_EQ(one.code, 0) << one.output;
  ASSERT_EQ(three.code, 0) << three.output;
  EXPECT_NE(one.output.find("(1 job(s);"), std::string::npos) << one.output;
  EXPECT_NE(three.output.find("(3 job(s);"), std::string::npos) << three.output;
  const auto table = [](const std::string& out) { return out.substr(out.find('\n') + 1); };  // past the timing line
  EXPECT_GT(std::count(one.output.begin(), one.output.end(), '\n'), 30) << one.output;
  EXPECT_EQ(table(one.output), table(three.output));
}

TEST_F(Tune, SimulateWritesRunsMarkedSimulatedAndTheWholePaperGrid) {
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 16, 128});
  const std::string file = write("p.json", p.to_json().dump());
  const std::string profiles = file + "," + file + "," + file + "," + file + "," + file;
  const auto r = run_greenbatch("simulate --profile " + profiles + " --sweep " + std::string(GB_SOURCE_DIR) +
                                "/configs/paper.toml --out " + (dir_ / "sim").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto recs = read_jsonl((dir_ / "sim" / "runs.jsonl").string());
  ASSERT_EQ(recs.size(), 100u);  // 5 models x 4 rates x 5 policies
  for (const auto& rec : recs) {
    EXPECT_TRUE(rec["simulated"].get<bool>());
    EXPECT_EQ(rec["clock"], "virtual");
    EXPECT_EQ(rec["sweep"], "paper");
    EXPECT_TRUE(is_complete(rec));
    EXPECT_TRUE(rec["energy"]["per_image_j"].is_number());
  }
  const auto list = run_greenbatch("simulate --profile " + file + " --rate 16,64 --policy fixed:16,greedy:128 --out " +
                                   (dir_ / "sim2").string());
  ASSERT_EQ(list.code, 0) << list.output;
  EXPECT_EQ(read_jsonl((dir_ / "sim2" / "runs.jsonl").string()).size(), 4u);
  // One simulated run's requests, as run writes them; more than one run is refused.
  const std::string requests = (dir_ / "requests.csv").string();
  const auto one = run_greenbatch("simulate --profile " + file + " --rate 16 --policy fixed:16 --requests 64 --out " +
                                  (dir_ / "sim4").string() + " --requests-out " + requests);
  ASSERT_EQ(one.code, 0) << one.output;
  const std::string csv = testing::slurp(requests);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 65);  // the header and 64 requests
  const auto many = run_greenbatch("simulate --profile " + file + " --rate 16,64 --out " + (dir_ / "sim5").string() +
                                   " --requests-out " + requests);
  EXPECT_EQ(many.code, 2);
  EXPECT_NE(many.output.find("--requests-out: takes one simulated run"), std::string::npos) << many.output;
  const auto smooth = run_greenbatch("simulate --profile " + file + " --idle-smoothing 2 --out " + (dir_ / "sim6").string());
  EXPECT_EQ(smooth.code, 2);
  EXPECT_NE(smooth.output.find("--idle-smoothing 2: the share of draws"), std::string::npos) << smooth.output;
  const auto bad = run_greenbatch("simulate --profile " + write("junk.json", "{\"schema\": 1}") + " --out " +
                                  (dir_ / "sim3").string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("not a greenbatch profile"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

// Issue 22: the learning policies and the oracle on a load that changes, on the virtual clock.
RunSpec changing_load(const std::string& model, const std::string& policy, const std::string& arrivals) {
  RunSpec s;
  s.model = model;
  s.clock = ClockKind::kVirtual;
  s.meter = "modelled:idle=50W,busy=150W";
  s.arrivals = arrivals;
  s.policy = policy;
  s.requests_given = false;  // one cycle
  s.seed = 3;
  return s;
}

TEST(LearningPolicies, ASimulationEqualsARunOfTheSyntheticBackendDecisionForDecision) {
  const std::string model = "synthetic:base=10ms,per_item=1ms";
  const Profile p = synthetic_profile(model);
  for (const char* policy : {"adaptive:p99=200ms", "aimd:p99=100ms", "switch:fixed:4@0s+timeout:32:50ms@20s"}) {
    SCOPED_TRACE(policy);
    const RunSpec s = changing_load(model, policy, "steps:20@20s,200@20s,50@20s,gaps=constant");
    PreparedRun real(s);
    const RunRecord r = real.execute().record;
    const RunRecord m = simulate_run(p, s).record;
    ASSERT_EQ(r.requests, 20u * 20 + 200 * 20 + 50 * 20);
    EXPECT_EQ(m.summary->batches, r.summary->batches);
    EXPECT_NEAR(m.summary->latency_s.p99, r.summary->latency_s.p99, 0.01 * r.summary->latency_s.p99);
    EXPECT_NEAR(*m.energy->per_image_j, *r.energy->per_image_j, 0.01 * *r.energy->per_image_j);
    // A load that changes is recorded every 10 s: 6 windows (a 7th when the last of the cycle's
    // Poisson arrivals falls past 60 s), their requests adding up.
    ASSERT_GE(r.summary->windows.size(), 6u);
    ASSERT_LE(r.summary->windows.size(), 7u);
    std::size_t n = 0;
    for (const auto& w : r.summary->windows) n += w.requests;
    EXPECT_EQ(n, r.requests);
    EXPECT_NEAR(r.summary->windows[0].rate_hz, 20, 0.2);
    EXPECT_NEAR(r.summary->windows[2].rate_hz, 200, 0.2);
    // Same run, same decisions.
    PreparedRun again(s);
    EXPECT_EQ(again.execute().record.summary->latency_s.p99, r.summary->latency_s.p99);
  }
}

TEST_F(Tune, AdaptiveReadsAProfilesQuantilesAndOneSlowBatchDoesNotHoldItBack) {
  // A profile whose batch of 8 took 18 to 27.8 ms back to back, except one hiccup of 106 ms at
  // its p99 and above. A batch of 8 may miss at 8 x 0.5 % = 4 %: it plans with the p96, 27.6 ms.
  Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms", {1, 8});
  std::vector<double> q;
  for (int i = 0; i <= 100; ++i) q.push_back(i < 99 ? 0.018 + i * 0.0001 : 0.106);
  p.points[1].quantiles_s = q;
  const std::string file = write("p.json", p.to_json().dump());
  auto policy = parse_policy("adaptive:p99=200ms,budget=1,cap=8,profile=" + file);
  std::vector<TimeNs> waiting(7, 0);
  const Decision d = policy->decide(waiting, 0, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), (0.200 - (0.018 + 96 * 0.0001)) * 1e9, 2.0);
  // A profile without quantiles (an older one): a normal tail through its median and p90, the
  // p96 at median + z(0.96) / z(0.90) x (p90 - median).
  p.points[1].quantiles_s.clear();
  p.points[1].service_median_s = 0.020;
  p.points[1].service_p90_s = 0.030;
  const std::string older = write("older.json", p.to_json().dump());
  const Decision e = parse_policy("adaptive:p99=200ms,budget=1,cap=8,profile=" + older)->decide(waiting, 0, false);
  ASSERT_EQ(e.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(e.until), (0.200 - (0.020 + 1.750686 / 1.281552 * 0.010)) * 1e9, 1e4);
}

TEST_F(Tune, AdaptiveHoldsTheTargetInEveryWindowOfAStepLoadAtLessEnergyThanGreedyAndAimd) {
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  const std::string load = "steps:20@30s,200@30s,50@30s";
  const auto run = [&](const std::string& policy) { return simulate_run(p, changing_load("x", policy, load)).record; };
  const std::string file = write("p.json", p.to_json().dump());
  for (const std::string& policy : {std::string("adaptive:p99=200ms"), "adaptive:p99=200ms,profile=" + file}) {
    SCOPED_TRACE(policy);
    const RunRecord a = run(policy);
    ASSERT_GE(a.summary->windows.size(), 9u);
    for (const auto& w : a.summary->windows) EXPECT_LE(w.p99_s, 0.200) << "window at " << w.t_s << " s";
    // Waiting for fuller batches costs less than serving what is there (greedy, and AIMD, which
    // grows its cap but dispatches as soon as the server is free).
    EXPECT_LT(*a.energy->per_image_j, *run("greedy:128").energy->per_image_j);
    EXPECT_LT(*a.energy->per_image_j, *run("aimd:p99=200ms").energy->per_image_j);
    EXPECT_GT(a.summary->windows[4].avg_batch, a.summary->windows[0].avg_batch);  // at 200/s, larger batches
  }
}

TEST(Oracle, SwitchesBetweenEachStepsBestStaticPolicyAtTheChangePoints) {
  // The hand-derived optimum of Tune.FindsTheOptimumDerivedByHand: fixed:18 at 100/s (constant
  // gaps) under a 200 ms maximum; at 20/s tune's own best.
  const Profile p = synthetic_profile("synthetic:base=10ms,per_item=1ms");
  TuneInput in;
  in.arrivals = "steps:100@20s,20@20s,gaps=constant";
  in.requests_given = false;
  in.target = parse_latency_target("max=200ms");
  in.jobs = 2;
  const OracleResult r = oracle(p, in);
  ASSERT_EQ(r.segments.size(), 2u);
  ASSERT_TRUE(r.segments[0].best && r.segments[1].best);
  EXPECT_EQ(r.segments[0].best->policy, "fixed:18");
  EXPECT_EQ(r.segments[1].from_ns, 20 * kNsPerS);
  TuneInput slow = in;
  slow.arrivals = "constant";
  slow.rate_hz = 20;
  slow.requests = 400;
  slow.requests_given = true;
  const TuneResult at20 = tune(p, slow, /*static_only=*/true);
  ASSERT_FALSE(at20.meeting.empty());
  EXPECT_EQ(r.segments[1].best->policy, at20.meeting.front().policy);
  EXPECT_EQ(r.policy, "switch:fixed:18@0s+" + at20.meeting.front().policy + "@20s");
  EXPECT_EQ(r.record.requests, 2400u);
  EXPECT_EQ(r.record.policy, r.policy);
  // The oracle's choices are static policies, never the learning ones.
  for (const auto& s : r.segments) EXPECT_FALSE(s.best->policy.starts_with("a")) << s.best->policy;
  // A steady load has no segments.
  TuneInput steady = slow;
  try {
    oracle(p, steady);
    ADD_FAILURE() << "a steady load was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("steps: or diurnal:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace greenbatch
