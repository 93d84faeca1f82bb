// NVML through the fake library: loading, counters, UUID matching, errors.
#include "energy/nvml.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "core/error.hpp"
#include "energy/fake_nvml.hpp"
#include "energy/meter.hpp"
#include "energy/sensor_meter.hpp"

namespace greenbatch {
namespace {

TEST(Nvml, TheFakeLoadsThroughTheSameDlopenPath) {
  testing::FakeNvml fake(2, 80.0);
  const auto nvml = Nvml::open();
  EXPECT_EQ(Nvml::library_path(), FAKE_NVML);
  EXPECT_EQ(nvml->device_count(), 2u);
  const auto d = nvml->device_by_index(1);
  const NvmlDeviceInfo info = nvml->info(d);
  EXPECT_EQ(info.name, "Fake GPU 1");
  EXPECT_EQ(info.uuid, "GPU-00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(info.driver_version, "999.99-fake");
  EXPECT_DOUBLE_EQ(*info.power_limit_w, 700.0);
  EXPECT_EQ(*info.sm_clock_mhz, 1980u);
  // Milliwatts and millijoules: 80 W for 0.3 s is 24 J = 24,000 mJ on the counter.
  EXPECT_EQ(nvml->power_mw(d), 80000u);
  EXPECT_EQ(*nvml->instant_power_mw(d), 80000u);
  const unsigned long long e0 = nvml->energy_mj(d);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const unsigned long long e1 = nvml->energy_mj(d);
  EXPECT_NEAR(static_cast<double>(e1 - e0), 24000.0, 2400.0);
}

TEST(Nvml, TheAveragedReadingLagsTheInstantOne) {
  testing::FakeNvml fake(1, 100.0);
  const auto nvml = Nvml::open();
  const auto d = nvml->device_by_index(0);
  fake.set_power(0, 300.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(*nvml->instant_power_mw(d), 300000u);
  // A 1-second average a quarter second after the change: about 150 W, not 300.
  EXPECT_NEAR(nvml->power_mw(d) / 1000.0, 150.0, 25.0);
}

TEST(Nvml, AMissingLibraryIsAClearErrorAndAutoFallsBackToNone) {
  setenv("GREENBATCH_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  try {
    Nvml::open();
    FAIL();
  } catch (const NvmlError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load /nonexistent/libnvidia-ml.so.1"), std::string::npos) << e.what();
  }
  MeterContext gpu{"cuda:0", ""};
  auto meter = make_meter("auto", gpu);
  const Energy e = meter->stop(0, {}, 0);
  EXPECT_EQ(e.method, "none");
  EXPECT_NE(e.reason.find("auto: nvml unavailable"), std::string::npos) << e.reason;
  EXPECT_THROW(make_meter("nvml", gpu), UserError);
  unsetenv("GREENBATCH_NVML_LIBRARY");
}

TEST(Nvml, TheCudaDeviceIsMatchedByUuidNotIndex) {
  testing::FakeNvml fake(3);
  // CUDA_VISIBLE_DEVICES=2 makes NVML's device 2 CUDA's cuda:0.
  MeterContext ctx{"cuda:0", "GPU-00000000-0000-0000-0000-000000000002"};
  auto meter = make_meter("nvml", ctx);
  meter->start(0);
  const Energy e = meter->stop(0, {}, 0);
  EXPECT_EQ(e.sensor["gpu_uuid"], "GPU-00000000-0000-0000-0000-000000000002");
  EXPECT_EQ(e.sensor["gpu_name"], "Fake GPU 2");
  EXPECT_EQ(e.sensor["matched_by"], "uuid");
  // Without a UUID the CUDA index is used, and says so.
  auto by_index = make_meter("nvml", MeterContext{"cuda:1", ""});
  by_index->start(0);
  const Energy e2 = by_index->stop(0, {}, 0);
  EXPECT_EQ(e2.sensor["gpu_name"], "Fake GPU 1");
  EXPECT_EQ(e2.sensor["matched_by"], "index");
  // A UUID NVML does not know is an error, not another GPU's figures.
  EXPECT_THROW(make_meter("nvml", MeterContext{"cuda:0", "GPU-ffffffff-0000-0000-0000-000000000009"}), UserError);
}

}  // namespace
}  // namespace greenbatch
