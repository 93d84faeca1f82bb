// RAPL through fake powercap trees in temporary folders.
#include "energy/rapl.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "energy/meter.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

namespace fs = std::filesystem;

class RaplTest : public testing::TempDirTest {
 protected:
  void zone(const std::string& dir, const std::string& name, unsigned long long uj, unsigned long long max_uj) {
    fs::create_directories(dir_ / dir);
    write(dir + "/name", name + "\n");
    write(dir + "/max_energy_range_uj", std::to_string(max_uj) + "\n");
    set(dir, uj);
  }
  void set(const std::string& dir, unsigned long long uj) { write(dir + "/energy_uj", std::to_string(uj) + "\n"); }
  void standard_tree() {
    zone("intel-rapl:0", "package-0", 999'000, 1'000'000);
    zone("intel-rapl:0/intel-rapl:0:0", "core", 5, 1'000'000);  // part of the package
    zone("intel-rapl:0/intel-rapl:0:1", "dram", 100, 1'000'000);
    zone("intel-rapl:1", "psys", 7, 1'000'000);                  // the platform: overlaps
  }
  // A package zone whose counter a thread advances at `watts` every millisecond, wrapping at
  // max_uj, until the test ends (or stop_counting()).
  void counting_zone(double watts, unsigned long long max_uj) {
    zone("intel-rapl:0", "package-0", 0, max_uj);
    counter_ = std::thread([this, watts, max_uj] {
      const auto t0 = std::chrono::steady_clock::now();
      while (!stop_) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const auto uj = static_cast<unsigned long long>(s * watts * 1e6) % max_uj;
        std::ofstream(dir_ / "intel-rapl:0" / "energy_uj.tmp") << uj << "\n";
        fs::rename(dir_ / "intel-rapl:0" / "energy_uj.tmp", dir_ / "intel-rapl:0" / "energy_uj");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  void stop_counting() {
    stop_ = true;
    if (counter_.joinable()) counter_.join();
  }
  void TearDown() override {
    stop_counting();
    testing::TempDirTest::TearDown();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread counter_;
};

TEST_F(RaplTest, PackagesAndDramCountCoreAndPsysDoNot) {
  standard_tree();
  Rapl rapl(dir_.string());
  EXPECT_EQ(rapl.zones(), (std::vector<std::string>{"intel-rapl:0 (package-0)", "intel-rapl:0:1 (dram)"}));
  EXPECT_EQ(rapl.joules(), 0.0);
  set("intel-rapl:0/intel-rapl:0:0", 900'000);  // ignored
  set("intel-rapl:0/intel-rapl:0:1", 600);      // +500 uJ
  set("intel-rapl:1", 900'000);                 // ignored
  EXPECT_DOUBLE_EQ(rapl.joules(), 500e-6);
}

TEST_F(RaplTest, WrapAroundIsUndone) {
  standard_tree();
  Rapl rapl(dir_.string());
  set("intel-rapl:0", 1'000);  // from 999,000 past the 1,000,000 range to 1,000: +2,000 uJ
  EXPECT_DOUBLE_EQ(rapl.joules(), 2000e-6);
  set("intel-rapl:0", 501'000);
  EXPECT_DOUBLE_EQ(rapl.joules(), 502'000e-6);
}

TEST_F(RaplTest, TheMeterFollowsACounterThatWrapsWhileItRuns) {
  // 100 W into a counter that wraps every 0.2 s, advanced by a thread every millisecond.
  counting_zone(100.0, 20'000'000);
  auto meter = make_meter("rapl:period=5ms,root=" + dir_.string(), MeterContext{"cpu", ""});
  meter->start(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const Energy e = meter->stop(0, {}, 10);
  stop_counting();
  ASSERT_TRUE(e.measured) << e.reason;
  EXPECT_EQ(e.method, "rapl");
  EXPECT_NEAR(*e.joules, 100.0 * e.window_s, 0.1 * 100.0 * e.window_s);  // three wraps undone
  EXPECT_NEAR(*e.avg_power_w, 100.0, 10.0);
  EXPECT_EQ(e.sensor["zones"][0], "intel-rapl:0 (package-0)");
}

TEST_F(RaplTest, LiveFromFourThreadsWhileTheSamplerRuns) {
  // The sampler thread and the readers all read the counter (RaplSensor keeps the last reading
  // for its power): one at a time, each reader's joules never go down, and they stay the counter's.
  counting_zone(100.0, 20'000'000);
  auto meter = make_meter("rapl:period=5ms,root=" + dir_.string(), MeterContext{"cpu", ""});
  const auto t0 = std::chrono::steady_clock::now();
  meter->start(0);
  std::atomic<int> readings{0}, failures{0}, decreases{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      double last = 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
      while (std::chrono::steady_clock::now() < until) {
        const std::optional<LiveEnergy> r = meter->live(0, 0, false);
        if (!r) ++failures;
        else if (r->joules < last) ++decreases;
        else last = r->joules;
        ++readings;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (std::thread& r : readers) r.join();
  // The counter stands still from here, so the last reading and stop() read the same value. (A
  // writer starved of CPU can skip a whole wrap: no check against the clock from below.)
  stop_counting();
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::optional<LiveEnergy> end = meter->live(0, 0, false);
  const Energy e = meter->stop(0, {}, 10);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(decreases, 0);
  EXPECT_GT(readings, 40);
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->power_w.has_value());
  EXPECT_GT(end->joules, 0.0);
  EXPECT_LT(end->joules, 100.0 * elapsed_s + 10.0);  // 100 ms of writer lag at start(); a wrap is 20 J
  ASSERT_TRUE(e.measured) << e.reason;
  EXPECT_EQ(end->joules, *e.joules);
}

TEST_F(RaplTest, AnUnreadableCounterIsAClearErrorNeverZero) {
  standard_tree();
  fs::remove(dir_ / "intel-rapl:0" / "energy_uj");
  fs::create_directories(dir_ / "intel-rapl:0" / "energy_uj");  // unreadable as a file, even for root
  try {
    make_meter("rapl:root=" + dir_.string(), MeterContext{"cpu", ""});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos) << e.what();
  }
  setenv("GREENBATCH_POWERCAP_ROOT", dir_.c_str(), 1);
  auto m = make_meter("auto", MeterContext{"cpu", ""});
  auto bare = make_meter("auto", MeterContext{"cpu", "", /*estimate_without_sensor=*/false});
  unsetenv("GREENBATCH_POWERCAP_ROOT");
  // auto says why there is no sensor, and estimates from CPU time instead: figures, never "measured".
  m->start(0);
  const Energy e = m->stop(kNsPerS, {}, 10);
  EXPECT_FALSE(e.measured);
  EXPECT_TRUE(e.estimated);
  EXPECT_EQ(e.method, "estimate");
  EXPECT_GT(*e.joules, 0);
  EXPECT_NE(e.reason.find("auto: rapl unavailable"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("estimated from CPU time"), std::string::npos) << e.reason;
  // Where the estimate would not be this run's (load's client), nothing.
  bare->start(0);
  const Energy none = bare->stop(kNsPerS, {}, 10);
  EXPECT_FALSE(none.has_figures());
  EXPECT_FALSE(none.joules.has_value());
  EXPECT_NE(none.reason.find("auto: rapl unavailable"), std::string::npos) << none.reason;
}

TEST_F(RaplTest, PermissionDeniedSaysWhatToDo) {
  // The usual case without root: energy_uj is 0400 root. Root reads anything, so the read is
  // made by a child process that drops to an unprivileged user first.
  standard_tree();
  const std::string path = (dir_ / "intel-rapl:0" / "energy_uj").string();
  fs::permissions(path, fs::perms::owner_read);
  fs::permissions(dir_, fs::perms::all);  // let the child reach the file
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
    try {
      Rapl::default_reader()(path);
      _exit(1);  // read: no denial
    } catch (const RaplError& e) {
      const std::string m = e.what();
      _exit(m.find("permission denied") != std::string::npos && m.find("root") != std::string::npos ? 0 : 2);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: read anyway, 2: wrong message, 3: could not drop privileges";
}

TEST_F(RaplTest, NoZonesAtAll) {
  std::filesystem::create_directories(dir_);
  EXPECT_THROW(Rapl(dir_.string()), RaplError);
}

}  // namespace
}  // namespace greenbatch
