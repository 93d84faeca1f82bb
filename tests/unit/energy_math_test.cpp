// The meters' shared arithmetic on tiny hand-computed inputs (values exact in binary, so the
// expectations are equalities).
#include "energy/energy_math.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace greenbatch {
namespace {

// start, end, lateness, first request, size
const std::vector<BatchRecord> kTwoBatches = {BatchRecord{0, 250 * kNsPerMs, 0, 0, 2},
                                              BatchRecord{500 * kNsPerMs, 1000 * kNsPerMs, 0, 2, 4}};

TEST(EnergyMath, BusyTimeIsTheBatchesSummedInNanoseconds) {
  EXPECT_EQ(busy_time_ns(kTwoBatches), 750 * kNsPerMs);
  EXPECT_EQ(busy_time_ns({}), 0);
}

TEST(EnergyMath, AboveIdleWeighsEachBatchByItsSizesPower) {
  std::vector<std::size_t> asked;
  const AboveIdle a = above_idle(kTwoBatches, [&](std::size_t size) {
    asked.push_back(size);
    return 10.0 * static_cast<double>(size);
  });
  EXPECT_EQ(a.joules, 25.0);  // 20 W x 0.25 s + 40 W x 0.5 s
  EXPECT_EQ(a.busy_s, 0.75);
  EXPECT_EQ(asked, (std::vector<std::size_t>{2, 4}));  // in order, once per batch
  const AboveIdle none = above_idle({}, [](std::size_t) { return 1.0; });
  EXPECT_EQ(none.joules, 0.0);
  EXPECT_EQ(none.busy_s, 0.0);
}

TEST(EnergyMath, IdleOverTheWindowPlusTheEnergyAboveIt) {
  EXPECT_EQ(idle_plus_busy_joules(50.0, 2 * kNsPerS, 25.0), 125.0);
  EXPECT_EQ(above_idle_joules(125.0, 50.0, 2 * kNsPerS), 25.0);
  // Not inverses in floating point: the modelled meters keep the energy above idle they
  // computed; a sensor's is what the subtraction gives.
  const double dynamic_j = (151.7 - 37.3) * 0.002;
  const double joules = idle_plus_busy_joules(37.3, 2 * kNsPerMs, dynamic_j);
  EXPECT_EQ(joules, 37.3 * 0.002 + dynamic_j);
  EXPECT_EQ(above_idle_joules(joules, 37.3, 2 * kNsPerMs), joules - 37.3 * 0.002);
  EXPECT_NE(above_idle_joules(joules, 37.3, 2 * kNsPerMs), dynamic_j);
}

TEST(EnergyMath, TotalsPerImageAboveIdleAndAveragePower) {
  Energy e;
  e.idle_power_w = 7.0;  // left as it was
  fill_totals(e, 125.0, 2 * kNsPerS, 5, 25.0);
  EXPECT_EQ(e.window_s, 2.0);
  EXPECT_EQ(*e.joules, 125.0);
  EXPECT_EQ(*e.per_image_j, 25.0);
  EXPECT_EQ(*e.dynamic_per_image_j, 5.0);
  EXPECT_EQ(*e.avg_power_w, 62.5);
  EXPECT_EQ(*e.idle_power_w, 7.0);
  EXPECT_FALSE(e.busy_power_w.has_value());
  EXPECT_FALSE(e.measured);  // the caller's to set
}

TEST(EnergyMath, TotalsLeaveOutWhatCannotBeComputed) {
  Energy no_images;
  fill_totals(no_images, 10.0, 4 * kNsPerS, 0, 2.0);
  EXPECT_EQ(*no_images.joules, 10.0);
  EXPECT_FALSE(no_images.per_image_j.has_value());
  EXPECT_FALSE(no_images.dynamic_per_image_j.has_value());
  EXPECT_EQ(*no_images.avg_power_w, 2.5);

  Energy no_window;
  fill_totals(no_window, 10.0, 0, 4, std::nullopt);
  EXPECT_EQ(no_window.window_s, 0.0);
  EXPECT_EQ(*no_window.per_image_j, 2.5);
  EXPECT_FALSE(no_window.dynamic_per_image_j.has_value());
  EXPECT_FALSE(no_window.avg_power_w.has_value());

  // The energy above idle is divided as given, not recomputed from the joules.
  const double dynamic_j = (151.7 - 37.3) * 0.002;
  Energy modelled;
  fill_totals(modelled, idle_plus_busy_joules(37.3, 2 * kNsPerMs, dynamic_j), 2 * kNsPerMs, 1, dynamic_j);
  EXPECT_EQ(*modelled.dynamic_per_image_j, dynamic_j);
}

TEST(EnergyMath, BusyAndPeakFromTheSamplesInsideABatch) {
  // t, power, instant
  const std::vector<PowerSample> samples = {{0, 10, 10}, {100, 20, 30}, {200, 40, 35}, {255, 8, 9}, {300, 5, 5}};
  // Both edges of a batch count: 100 and 200 fall in the first, 255 in the second.
  const std::vector<BatchRecord> batches = {BatchRecord{100, 200, 0, 0, 1}, BatchRecord{250, 260, 0, 1, 1}};
  const BusyPower p = busy_and_peak(samples, batches);
  EXPECT_EQ(p.samples, 3u);
  EXPECT_EQ(*p.busy_w, 68.0 / 3);  // (20 + 40 + 8) / 3
  EXPECT_EQ(*p.peak_w, 40.0);      // the highest of power and instant power
}

TEST(EnergyMath, NoSampleInsideABatchLeavesBusyAndPeakUnknown) {
  // Between the two batches (0..250 ms, 500..1000 ms), and after them.
  const std::vector<PowerSample> samples = {{300 * kNsPerMs, 10, 10}, {1100 * kNsPerMs, 5, 5}};
  const BusyPower p = busy_and_peak(samples, kTwoBatches);
  EXPECT_EQ(p.samples, 0u);
  EXPECT_FALSE(p.busy_w.has_value());
  EXPECT_FALSE(p.peak_w.has_value());
  EXPECT_EQ(busy_and_peak(samples, {}).samples, 0u);
  // Peak starts from 0: negative readings give 0.
  const BusyPower negative = busy_and_peak(std::vector<PowerSample>{{100, -4, -2}}, kTwoBatches);
  EXPECT_EQ(*negative.busy_w, -4.0);
  EXPECT_EQ(*negative.peak_w, 0.0);
}

TEST(EnergyMath, CrossCheckAgainstTheReportedFigure) {
  const Energy::CrossCheck cc = cross_check("nvml-sampled", 150.0, 100.0, 4, 160.0);
  EXPECT_EQ(cc.method, "nvml-sampled");
  EXPECT_EQ(*cc.joules, 150.0);
  EXPECT_EQ(*cc.per_image_j, 37.5);
  EXPECT_EQ(*cc.difference_pct, 50.0);
  EXPECT_EQ(*cc.instant_joules, 160.0);

  const Energy::CrossCheck below = cross_check("counter", 75.0, 100.0, 0, std::nullopt);
  EXPECT_EQ(*below.difference_pct, -25.0);
  EXPECT_FALSE(below.per_image_j.has_value());
  EXPECT_FALSE(below.instant_joules.has_value());

  const Energy::CrossCheck nothing = cross_check("counter", 5.0, 0.0, 1, 5.0);
  EXPECT_EQ(*nothing.joules, 5.0);
  EXPECT_FALSE(nothing.difference_pct.has_value());
}

}  // namespace
}  // namespace greenbatch
