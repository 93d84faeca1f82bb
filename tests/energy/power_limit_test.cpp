// --power-limit through the fake libnvidia-ml (the same dlopen path as a driver's): set for the
// run, restored on every way out (the end, a failure mid-run, a stop), refused clearly.
#include "energy/power_limit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/error.hpp"
#include "support/errors.hpp"
#include "energy/fake_nvml.hpp"
#include "engine/execute.hpp"

namespace greenbatch {
namespace {

using namespace std::chrono_literals;


TEST(PowerLimit, IsSetForTheGuardsLifeAndRestored) {
  testing::FakeNvml fake(2, 100.0);
  {
    PowerLimitGuard g(300, "", 1);
    EXPECT_EQ(fake.power_limit_w(1), 300.0);
    EXPECT_EQ(fake.power_limit_w(0), 700.0);  // the other GPU untouched
    EXPECT_EQ(g.facts()["previous_w"], 700.0);
    EXPECT_EQ(g.facts()["min_w"], 200.0);
  }
  EXPECT_EQ(fake.power_limit_w(1), 700.0);
  EXPECT_EQ(fake.limits_set(1), 2u);
  // By UUID, as a CUDA device is matched.
  {
    PowerLimitGuard g(450, "GPU-00000000-0000-0000-0000-000000000000", 7);
    EXPECT_EQ(fake.power_limit_w(0), 450.0);
  }
  EXPECT_EQ(fake.power_limit_w(0), 700.0);
}

TEST(PowerLimit, IsRefusedOutsideTheDevicesRangeOrWithoutPermission) {
  testing::FakeNvml fake(1, 100.0);
  const std::string low = testing::user_error_of([] { PowerLimitGuard g(150, "", 0); });
  EXPECT_NE(low.find("outside the range of Fake GPU 0"), std::string::npos) << low;
  EXPECT_NE(low.find("200 to 700 W"), std::string::npos) << low;
  fake.deny_power_limit(0);
  const std::string denied = testing::user_error_of([] { PowerLimitGuard g(300, "", 0); });
  EXPECT_NE(denied.find("Insufficient Permissions"), std::string::npos) << denied;
  EXPECT_NE(denied.find("needs root"), std::string::npos) << denied;
  EXPECT_EQ(fake.limits_set(0), 0u);  // nothing was changed
  EXPECT_NE(testing::user_error_of([] { PowerLimitGuard g(300, "", 3); }).find("NVML device 3"), std::string::npos);
}

TEST(PowerLimit, AMissingNvmlIsAClearError) {
  setenv("GREENBATCH_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  const std::string e = testing::user_error_of([] { PowerLimitGuard g(300, "", 0); });
  unsetenv("GREENBATCH_NVML_LIBRARY");
  EXPECT_NE(e.find("--power-limit 300 W: NVML is not available"), std::string::npos) << e;
}

// A run with --power-limit (a synthetic model: NVML's device 0): the limit holds while it runs,
// the record says so, and it is restored after the run ends, fails or is stopped.
RunSpec limited_run(const std::string& model, const std::string& policy) {
  RunSpec s;
  s.model = model;
  s.policy = policy;
  s.rate_hz = 100;
  s.requests = 8;
  s.meter = "none";
  s.idle_window_ns = 0;
  s.knobs.power_limit_w = 250;
  return s;
}

TEST(PowerLimit, HoldsDuringARunAndIsRestoredAfterIt) {
  testing::FakeNvml fake(1, 100.0);
  PreparedRun run(limited_run("synthetic:base=40ms", "fixed:2"));
  std::atomic<bool> done{false};
  std::atomic<double> seen{0};
  std::thread watch([&] {
    while (!done) {
      seen = std::max<double>(seen, fake.power_limit_w(0) == 250.0 ? 250.0 : 0.0);
      std::this_thread::sleep_for(1ms);
    }
  });
  const RunOutcome out = run.execute();
  done = true;
  watch.join();
  EXPECT_EQ(seen, 250.0);
  EXPECT_TRUE(out.record.complete()) << out.record.error;
  EXPECT_EQ(out.record.backend["power_limit"]["requested_w"], 250.0);
  EXPECT_EQ(out.record.backend["power_limit"]["previous_w"], 700.0);
  EXPECT_EQ(out.record.knobs.power_limit_w, 250.0);
  EXPECT_EQ(fake.power_limit_w(0), 700.0);
}

TEST(PowerLimit, IsRestoredAfterAFailureMidRunAndAfterAStop) {
  testing::FakeNvml fake(1, 100.0);
  // Batches above 2 fail (the synthetic model's out-of-memory seam): the run fails at its first.
  PreparedRun failing(limited_run("synthetic:base=1ms,max_batch=2", "fixed:4"));
  const RunOutcome out = failing.execute();
  EXPECT_FALSE(out.record.error.empty());
  EXPECT_EQ(fake.power_limit_w(0), 700.0);
  EXPECT_EQ(fake.limits_set(0), 2u);
  // Stopped (Ctrl-C sets the flag) before it ran a batch.
  PreparedRun stopped(limited_run("synthetic:base=1ms", "fixed:2"));
  const std::atomic<bool> stop{true};
  stopped.set_cancel_flag(&stop);
  const RunOutcome cut = stopped.execute();
  EXPECT_TRUE(cut.result.interrupted);
  EXPECT_EQ(fake.power_limit_w(0), 700.0);
  EXPECT_EQ(fake.limits_set(0), 4u);
  // A limit NVML refuses fails the run before anything is measured, and changes nothing.
  fake.deny_power_limit(0);
  PreparedRun denied(limited_run("synthetic:base=1ms", "fixed:2"));
  EXPECT_NE(testing::user_error_of([&] { denied.execute(); }).find("Insufficient Permissions"), std::string::npos);
  EXPECT_EQ(fake.limits_set(0), 4u);
}

}  // namespace
}  // namespace greenbatch
