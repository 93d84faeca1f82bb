#include "engine/summary.hpp"

#include <gtest/gtest.h>

namespace greenbatch {
namespace {

// A hand-made run: 5 requests in two batches.
RunResult hand_made() {
  RunResult r;
  r.arrivals = {0, 100, 200, 300, 400};
  // start, end, lateness, first request, size
  r.batches = {BatchRecord{250, 1000, 10, 0, 3}, BatchRecord{1000, 2000, 30, 3, 2}};
  return r;
}

TEST(Summary, NumbersFromAHandMadeRun) {
  const Summary s = summarize(hand_made());
  EXPECT_EQ(s.requests, 5u);
  EXPECT_EQ(s.completed, 5u);
  EXPECT_EQ(s.batches, 2u);
  EXPECT_DOUBLE_EQ(s.avg_batch_size, 2.5);
  EXPECT_DOUBLE_EQ(s.duration_s, 2000e-9);
  EXPECT_DOUBLE_EQ(s.throughput_rps, 5 / 2000e-9);
  // Latencies: 1000, 900, 800, 1700, 1600 ns -> sorted 800 900 1000 1600 1700.
  EXPECT_DOUBLE_EQ(s.latency_s.mean, 6000e-9 / 5);
  EXPECT_DOUBLE_EQ(s.latency_s.p50, 1000e-9);
  EXPECT_DOUBLE_EQ(s.latency_s.p90, 1660e-9);  // 1600 + 0.6 x 100
  EXPECT_DOUBLE_EQ(s.latency_s.max, 1700e-9);
  EXPECT_DOUBLE_EQ(s.dispatch_late_s.p50, 20e-9);
  EXPECT_DOUBLE_EQ(s.dispatch_late_s.max, 30e-9);
  // Service times: 750 and 1000 ns.
  EXPECT_DOUBLE_EQ(s.service_s.mean, 875e-9);
  EXPECT_DOUBLE_EQ(s.service_s.min, 750e-9);
  EXPECT_DOUBLE_EQ(s.service_s.p50, 875e-9);
  EXPECT_DOUBLE_EQ(s.service_s.max, 1000e-9);
}

TEST(Summary, AnEmptyRunHasNoNumbersButDoesNotCrash) {
  RunResult r;
  r.arrivals = {0, 1};
  const Summary s = summarize(r);
  EXPECT_EQ(s.completed, 0u);
  EXPECT_EQ(s.batches, 0u);
  EXPECT_EQ(s.throughput_rps, 0);
}

}  // namespace
}  // namespace greenbatch
