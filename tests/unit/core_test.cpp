// The batching core on its own: what a server will drive, without a schedule or a clock.
#include "batching/core.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "batching/fixed.hpp"
#include "batching/timeout.hpp"

namespace greenbatch {
namespace {

Request req(std::uint64_t id, TimeNs at) { return Request{id, at, id * 10, nullptr}; }

TEST(BatchingCore, HandsOutTheOldestWaitingAsTheirPolicyDecides) {
  FixedPolicy fixed(2);
  BatchingCore core(fixed);
  EXPECT_EQ(core.next_wakeup(0).kind, Wakeup::Kind::kOnSubmit);
  core.submit(req(0, 5));
  EXPECT_EQ(core.next_wakeup(5).kind, Wakeup::Kind::kOnSubmit);
  core.submit(req(1, 7));
  core.submit(req(2, 9));
  const Wakeup w = core.next_wakeup(9);
  ASSERT_EQ(w.kind, Wakeup::Kind::kDispatch);
  ASSERT_EQ(w.batch.size(), 2u);
  EXPECT_EQ(w.batch[0].id, 0u);
  EXPECT_EQ(w.batch[1].id, 1u);
  EXPECT_EQ(w.batch[1].input, 10u);
  EXPECT_EQ(core.waiting(), 1u);
  // One batch out at a time.
  EXPECT_THROW(core.next_wakeup(9), std::logic_error);
  core.on_batch_done({9, 20, 0, 0, 2});
  EXPECT_EQ(core.next_wakeup(20).kind, Wakeup::Kind::kOnSubmit);
  core.close();
  const Wakeup last = core.next_wakeup(20);  // the partial batch, once the stream has ended
  ASSERT_EQ(last.kind, Wakeup::Kind::kDispatch);
  EXPECT_EQ(last.batch.size(), 1u);
  EXPECT_EQ(last.batch[0].id, 2u);
  core.on_batch_done({20, 30, 0, 2, 1});
  EXPECT_EQ(core.next_wakeup(30).kind, Wakeup::Kind::kDrained);
}

TEST(BatchingCore, ABatchOutStaysValidWhileRequestsArrive) {
  FixedPolicy fixed(3);
  BatchingCore core(fixed);
  for (std::uint64_t i = 0; i < 3; ++i) core.submit(req(i, static_cast<TimeNs>(i)));
  const Wakeup w = core.next_wakeup(3);
  ASSERT_EQ(w.kind, Wakeup::Kind::kDispatch);
  // A server keeps taking requests while the batch runs: the queue grows and moves.
  for (std::uint64_t i = 3; i < 10'000; ++i) core.submit(req(i, static_cast<TimeNs>(i)));
  EXPECT_EQ(w.batch[0].id, 0u);
  EXPECT_EQ(w.batch[2].id, 2u);
  core.on_batch_done({3, 4, 0, 0, 3});
  EXPECT_EQ(core.waiting(), 9'997u);
  const Wakeup next = core.next_wakeup(10'000);
  ASSERT_EQ(next.kind, Wakeup::Kind::kDispatch);
  EXPECT_EQ(next.batch[0].id, 3u);
}

TEST(BatchingCore, TimeoutsBecomeWakeUps) {
  TimeoutPolicy timeout(8, 100);
  BatchingCore core(timeout);
  core.submit(req(0, 50));
  const Wakeup w = core.next_wakeup(60);
  EXPECT_EQ(w.kind, Wakeup::Kind::kAt);
  EXPECT_EQ(w.at, 150);
  EXPECT_EQ(core.next_wakeup(150).kind, Wakeup::Kind::kDispatch);
}

TEST(BatchingCore, RefusesArrivalsOutOfOrderAndAfterClose) {
  FixedPolicy fixed(2);
  BatchingCore core(fixed);
  core.submit(req(0, 100));
  EXPECT_THROW(core.submit(req(1, 99)), std::logic_error);
  core.close();
  EXPECT_THROW(core.submit(req(2, 200)), std::logic_error);
}

// A policy that learns: it sees every completed batch, in order.
class Learning final : public BatchPolicy {
 public:
  Decision decide(std::span<const TimeNs> waiting, TimeNs, bool) const override {
    return waiting.empty() ? Decision::wait_for_arrival() : Decision::dispatch(1);
  }
  void observe(const BatchRecord& b) override { seen.push_back(b.end_ns - b.start_ns); }
  std::string spec() const override { return "learning"; }
  std::size_t max_batch() const override { return 1; }
  std::vector<TimeNs> seen;
};

TEST(BatchingCore, PoliciesObserveEachCompletedBatch) {
  Learning policy;
  BatchingCore core(policy);
  core.submit(req(0, 0));
  core.submit(req(1, 0));
  ASSERT_EQ(core.next_wakeup(0).kind, Wakeup::Kind::kDispatch);
  core.on_batch_done({0, 7, 0, 0, 1});
  ASSERT_EQ(core.next_wakeup(7).kind, Wakeup::Kind::kDispatch);
  core.on_batch_done({7, 20, 0, 1, 1});
  EXPECT_EQ(policy.seen, (std::vector<TimeNs>{7, 13}));
  EXPECT_THROW(core.on_batch_done({20, 21, 0, 2, 1}), std::logic_error);  // no batch out
}

}  // namespace
}  // namespace greenbatch
