// PreparePool: requests prepared by workers as they arrive, collected by their batch in order,
// at most `capacity` ahead, failures delivered to the batch, reusable across runs.
#include "backends/prepare_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace greenbatch {
namespace {

using namespace std::chrono_literals;

// Prepares a request as 8 bytes: its input, little-endian. Counts calls and the threads used.
struct Recorder {
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  std::set<std::thread::id> threads;
  std::uint64_t fail_input = ~0ull;
  std::chrono::milliseconds hold{0};

  PreparePool::Prepare fn() {
    return [this](const Request& r, std::uint8_t* out) {
      {
        std::lock_guard lock(m);
        ++started;
        threads.insert(std::this_thread::get_id());
      }
      cv.notify_all();
      if (hold.count() > 0) std::this_thread::sleep_for(hold);
      if (r.input == fail_input) throw std::runtime_error("image 7: truncated");
      for (int b = 0; b < 8; ++b) out[b] = static_cast<std::uint8_t>(r.input >> (8 * b));
    };
  }
  // Waits (at most 10 s) until `n` preparations have started.
  bool wait_started(int n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, 10s, [&] { return started >= n; });
  }
};

std::uint64_t value(const std::uint8_t* bytes) {
  std::uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<std::uint64_t>(bytes[b]) << (8 * b);
  return v;
}

std::vector<std::uint64_t> collect_inputs(PreparePool& pool, std::span<const Request> batch) {
  std::vector<std::uint64_t> got(batch.size(), ~0ull);
  pool.collect(batch, [&](std::size_t k, const std::uint8_t* bytes) { got[k] = value(bytes); });
  return got;
}

std::vector<Request> requests(std::uint64_t first, std::size_t n, std::uint64_t input_offset = 0) {
  std::vector<Request> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = Request{first + i, 0, first + i + input_offset, nullptr};
  return out;
}

class PreparePoolThreads : public ::testing::TestWithParam<int> {};

TEST_P(PreparePoolThreads, EveryBatchGetsItsOwnRequestsInOrder) {
  Recorder rec;
  PreparePool pool(rec.fn(), 8, GetParam(), 16);
  const auto all = requests(0, 100, 1000);
  std::size_t announced = 0;
  for (std::size_t first = 0; first < all.size(); first += 7) {
    // Arrivals run ahead of the batches, as in a replay.
    for (; announced < std::min(all.size(), first + 20); ++announced) pool.arrived(all[announced]);
    const std::span<const Request> batch(all.data() + first, std::min<std::size_t>(7, all.size() - first));
    const auto got = collect_inputs(pool, batch);
    for (std::size_t k = 0; k < batch.size(); ++k) EXPECT_EQ(got[k], batch[k].input);
  }
  EXPECT_EQ(rec.started, 100);  // each request prepared once
  const auto d = pool.durations();
  ASSERT_EQ(d.size(), 100u);
  for (TimeNs ns : d) EXPECT_GT(ns, 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, PreparePoolThreads, ::testing::Values(0, 1, 3));

TEST(PreparePool, WorkersPrepareRequestsBeforeTheirBatchRuns) {
  Recorder rec;
  PreparePool pool(rec.fn(), 8, 2, 64);
  const auto all = requests(0, 10);
  for (const Request& r : all) pool.arrived(r);
  ASSERT_TRUE(rec.wait_started(10));  // nobody collected yet: the workers did it
  EXPECT_EQ(rec.threads.count(std::this_thread::get_id()), 0u);
  const auto got = collect_inputs(pool, all);
  EXPECT_EQ(got[9], 9u);
  EXPECT_EQ(rec.started, 10);
  EXPECT_EQ(rec.threads.count(std::this_thread::get_id()), 0u);
}

TEST(PreparePool, NoMoreThanCapacityArePreparedAhead) {
  Recorder rec;
  PreparePool pool(rec.fn(), 8, 3, 4);
  const auto all = requests(0, 20);
  for (const Request& r : all) pool.arrived(r);
  ASSERT_TRUE(rec.wait_started(4));
  std::this_thread::sleep_for(50ms);  // an unbounded pool would have started all 20 by now
  {
    std::lock_guard lock(rec.m);
    EXPECT_EQ(rec.started, 4);
  }
  // Collecting frees room: everything is prepared in the end, in order.
  const auto got = collect_inputs(pool, all);
  for (std::size_t k = 0; k < all.size(); ++k) EXPECT_EQ(got[k], k);
}

TEST(PreparePool, ABatchOfUnannouncedRequestsIsPreparedToo) {
  Recorder rec;
  PreparePool pool(rec.fn(), 8, 2, 8);
  const auto batch = requests(0, 32, 5);  // a warm-up: no arrivals announced
  const auto got = collect_inputs(pool, batch);
  for (std::size_t k = 0; k < batch.size(); ++k) EXPECT_EQ(got[k], k + 5);
}

TEST(PreparePool, AFailureReachesTheBatchAndThePoolGoesOn) {
  Recorder rec;
  rec.fail_input = 3;
  PreparePool pool(rec.fn(), 8, 2, 8);
  const auto all = requests(0, 8);
  for (const Request& r : all) pool.arrived(r);
  std::vector<std::size_t> used;
  try {
    pool.collect(std::span(all).first(6), [&](std::size_t k, const std::uint8_t*) { used.push_back(k); });
    FAIL() << "expected the failure of request 3";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "image 7: truncated");
  }
  EXPECT_EQ(used, (std::vector<std::size_t>{0, 1, 2}));  // nothing after the failure is used
  const auto got = collect_inputs(pool, std::span(all).subspan(6));
  EXPECT_EQ(got, (std::vector<std::uint64_t>{6, 7}));
}

TEST(PreparePool, ResetForgetsTheLastRun) {
  Recorder rec;
  PreparePool pool(rec.fn(), 8, 2, 64);
  for (const Request& r : requests(0, 10)) pool.arrived(r);  // a run that stopped early
  ASSERT_TRUE(rec.wait_started(10));
  pool.reset();
  EXPECT_TRUE(pool.durations().empty());
  const auto again = requests(0, 5, 100);  // ids start again, other inputs
  for (const Request& r : again) pool.arrived(r);
  const auto got = collect_inputs(pool, again);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{100, 101, 102, 103, 104}));
}

TEST(PreparePool, DestroyingItWithWorkQueuedEnds) {
  Recorder rec;
  rec.hold = 20ms;
  {
    PreparePool pool(rec.fn(), 8, 2, 1000);
    for (const Request& r : requests(0, 200)) pool.arrived(r);
    ASSERT_TRUE(rec.wait_started(1));
  }  // joins after the requests being prepared, not all 200
  EXPECT_LT(rec.started, 200);
}

}  // namespace
}  // namespace greenbatch
