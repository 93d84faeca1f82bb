// The server's inference thread on the real clock with small backends: every admitted request
// answered once, in item order, partial batches served at close, overload refused at once.
#include "serve/inference_loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"

namespace greenbatch::serve {
namespace {

using namespace std::chrono_literals;

// Gives each item two values: its request id and its payload's first float; fails on demand.
class RowsBackend final : public Backend {
 public:
  void run(std::span<const Request>) override {}
  void run_outputs(std::span<const Request> batch, BatchOutput& out) override {
    if (fail_next.exchange(false)) throw std::runtime_error("out of memory");
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    out.width = 2;
    out.values.clear();
    for (const Request& r : batch) {
      out.values.push_back(static_cast<float>(r.id));
      out.values.push_back(static_cast<const Payload*>(r.data)->tensor[0]);
    }
  }
  std::string model() const override { return "rows"; }
  std::string device() const override { return "test"; }
  bool follows_clock() const override { return false; }
  std::atomic<bool> fail_next{false};
  std::chrono::milliseconds delay{0};
};

// Payloads whose tensor's first value is their number.
struct Items {
  explicit Items(std::size_t n) : values(n), payloads(n), pointers(n) {
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = static_cast<float>(i);
      payloads[i] = Payload{Payload::Kind::kTensor, nullptr, &values[i]};
      pointers[i] = &payloads[i];
    }
  }
  std::span<const Payload* const> span(std::size_t first, std::size_t count) const {
    return std::span<const Payload* const>(pointers).subspan(first, count);
  }
  std::vector<float> values;
  std::vector<Payload> payloads;
  std::vector<const Payload*> pointers;
};

// Submits and returns a future of the completion.
std::future<Completion> submit(InferenceLoop& loop, std::span<const Payload* const> items,
                               InferenceLoop::Admit* admit = nullptr) {
  auto promise = std::make_shared<std::promise<Completion>>();
  auto f = promise->get_future();
  const auto a = loop.submit(items, [promise](Completion&& c) { promise->set_value(std::move(c)); });
  if (admit) *admit = a;
  return f;
}

Completion get(std::future<Completion>& f) {
  if (f.wait_for(10s) != std::future_status::ready) throw std::runtime_error("no completion within 10 s");
  return f.get();
}

TEST(InferenceLoop, RequestsFromSeveralThreadsAreAllAnsweredAndThePartialBatchServedAtClose) {
  RealClock clock;
  SyntheticBackend backend(parse_synthetic("synthetic:base=1ms,per_item=0s"), clock);
  auto policy = parse_policy("fixed:4");
  InferenceLoop loop(backend, *policy, 100);
  Items items(10);
  std::vector<std::future<Completion>> done(10);
  std::thread other([&] {
    for (std::size_t i = 0; i < 10; i += 2) done[i] = submit(loop, items.span(i, 1));
  });
  for (std::size_t i = 1; i < 10; i += 2) done[i] = submit(loop, items.span(i, 1));
  other.join();
  // Eight are served in two full batches; the last two wait for a batch of four until close.
  loop.close();
  for (auto& f : done) EXPECT_EQ(get(f).error, "");
  const auto batches = loop.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size, 4u);
  EXPECT_EQ(batches[1].size, 4u);
  EXPECT_EQ(batches[2].size, 2u);  // served at close
  EXPECT_EQ(loop.arrivals().size(), 10u);
}

TEST(InferenceLoop, TheBatchIsCountedBeforeItsAnswersAndTheSlowObserverRunsAfterThem) {
  RowsBackend backend;
  auto policy = parse_policy("fixed:2");
  // Each record: the batch's first request id, and how many answers had been handed over then.
  std::atomic<int> answered{0};
  std::vector<std::pair<std::uint64_t, int>> before, after;
  InferenceLoop loop(backend, *policy, 100,
                     {.on_batch = [&](const BatchRecord& b, std::span<const TimeNs> waits) {
                        EXPECT_EQ(waits.size(), b.size);
                        before.emplace_back(b.first_request, answered.load());
                      },
                      .after_answers = [&](const BatchRecord& b, std::span<const TimeNs> waits) {
                        EXPECT_EQ(waits.size(), b.size);
                        after.emplace_back(b.first_request, answered.load());
                      }});
  Items items(4);
  std::vector<std::future<Completion>> done;
  for (std::size_t i = 0; i < 4; ++i) {
    auto promise = std::make_shared<std::promise<Completion>>();
    done.push_back(promise->get_future());
    ASSERT_EQ(loop.submit(items.span(i, 1), [promise, &answered](Completion&& c) {
                ++answered;
                promise->set_value(std::move(c));
              }),
              InferenceLoop::Admit::kAccepted);
  }
  for (auto& f : done) EXPECT_EQ(get(f).error, "");
  loop.close();  // joins the inference thread: both observers have run for both batches
  const std::vector<std::pair<std::uint64_t, int>> want_before{{0, 0}, {2, 2}}, want_after{{0, 2}, {2, 4}};
  EXPECT_EQ(before, want_before);
  EXPECT_EQ(after, want_after);
}

TEST(InferenceLoop, AMultiItemRequestGetsItsRowsInItemOrderAcrossBatches) {
  RowsBackend backend;
  auto policy = parse_policy("fixed:2");
  InferenceLoop loop(backend, *policy, 100);
  Items items(5);
  auto f = submit(loop, items.span(0, 5));
  loop.close();  // the fifth item is served alone
  const Completion c = get(f);
  EXPECT_EQ(c.error, "");
  ASSERT_EQ(c.width, 2u);
  ASSERT_EQ(c.outputs.size(), 10u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(c.outputs[2 * i], static_cast<float>(i));      // the item's request id
    EXPECT_EQ(c.outputs[2 * i + 1], static_cast<float>(i));  // its own payload
  }
  EXPECT_GE(c.done_ns, c.arrival_ns);
  EXPECT_EQ(loop.batches().size(), 3u);
}

TEST(InferenceLoop, OverloadIsRefusedAtOnceNeverQueued) {
  RowsBackend backend;
  auto policy = parse_policy("fixed:100");  // never full: everything waits
  InferenceLoop loop(backend, *policy, 5);
  Items items(12);
  std::vector<std::future<Completion>> accepted;
  for (std::size_t i = 0; i < 5; ++i) {
    InferenceLoop::Admit a{};
    accepted.push_back(submit(loop, items.span(i, 1), &a));
    EXPECT_EQ(a, InferenceLoop::Admit::kAccepted);
  }
  EXPECT_EQ(loop.waiting(), 5u);
  InferenceLoop::Admit a{};
  auto refused = submit(loop, items.span(5, 1), &a);
  EXPECT_EQ(a, InferenceLoop::Admit::kQueueFull);
  auto too_big = submit(loop, items.span(6, 6), &a);
  EXPECT_EQ(a, InferenceLoop::Admit::kQueueFull);
  loop.close();
  for (auto& f : accepted) EXPECT_EQ(get(f).error, "");
  auto late = submit(loop, items.span(0, 1), &a);
  EXPECT_EQ(a, InferenceLoop::Admit::kClosed);
}

TEST(InferenceLoop, ABackendFailureAnswersItsBatchAndTheLoopGoesOn) {
  RowsBackend backend;
  backend.fail_next = true;
  auto policy = parse_policy("fixed:1");
  InferenceLoop loop(backend, *policy, 10);
  Items items(2);
  auto first = submit(loop, items.span(0, 1));
  EXPECT_EQ(get(first).error, "out of memory");
  auto second = submit(loop, items.span(1, 1));
  const Completion c = get(second);
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.outputs.at(1), 1.0f);
}

TEST(InferenceLoop, ATimeoutPolicyDispatchesAPartialBatchOnTheRealClock) {
  RowsBackend backend;
  auto policy = parse_policy("timeout:8:5ms");
  InferenceLoop loop(backend, *policy, 10);
  Items items(1);
  auto f = submit(loop, items.span(0, 1));
  const Completion c = get(f);  // not held until close: the timeout fires
  EXPECT_EQ(c.error, "");
  EXPECT_GE(c.done_ns - c.arrival_ns, 5'000'000);
  EXPECT_EQ(loop.batches().at(0).size, 1u);
}

TEST(InferenceLoop, ActivityCountsBusyTimeAndItemsOfCompletedBatches) {
  RowsBackend backend;
  backend.delay = 30ms;
  auto policy = parse_policy("fixed:2");
  InferenceLoop loop(backend, *policy, 10);
  Items items(2);
  const InferenceLoop::Activity before = loop.activity();
  EXPECT_EQ(before.items_done, 0u);
  EXPECT_EQ(before.busy_ns, 0);
  EXPECT_FALSE(before.busy);
  auto f = submit(loop, items.span(0, 2));
  // While the batch runs, the loop says so and its busy time grows.
  InferenceLoop::Activity during;
  for (int i = 0; i < 1000 && !(during = loop.activity()).busy; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(during.busy);
  EXPECT_EQ(during.items_done, 0u);
  get(f);
  const InferenceLoop::Activity after = loop.activity();
  EXPECT_FALSE(after.busy);
  EXPECT_EQ(after.items_done, 2u);
  EXPECT_EQ(after.batches, 1u);
  const BatchRecord b = loop.batches().at(0);
  EXPECT_EQ(after.busy_ns, b.end_ns - b.start_ns);
  EXPECT_GE(after.busy_ns, 30'000'000);
  EXPECT_GE(after.now, b.end_ns);
}

TEST(InferenceLoop, CloseFromSeveralThreadsAtOnceServesEverythingAndReturnsInEach) {
  RowsBackend backend;
  backend.delay = 20ms;
  auto policy = parse_policy("fixed:8");
  InferenceLoop loop(backend, *policy, 10);
  Items items(3);
  auto f = submit(loop, items.span(0, 3));
  std::vector<std::thread> closers;
  for (int i = 0; i < 4; ++i) closers.emplace_back([&loop] { loop.close(); });
  for (auto& t : closers) t.join();  // a second join of the same thread would hang or crash here
  EXPECT_EQ(get(f).error, "");
  EXPECT_EQ(loop.activity().items_done, 3u);
}

TEST(InferenceLoop, PastTheRecordLimitItCountsButKeepsOnlyTheFirstBatchesItems) {
  RowsBackend backend;
  auto policy = parse_policy("fixed:3");
  InferenceLoop loop(backend, *policy, 10, {}, {}, /*record_limit=*/5);
  Items items(12);
  for (std::size_t i = 0; i < 12; i += 3) {
    auto f = submit(loop, items.span(i, 3));
    EXPECT_EQ(get(f).error, "");
  }
  loop.close();
  // Batches of 3: the second reaches 6 >= 5 items, and recording stops there, at its end.
  EXPECT_TRUE(loop.record_truncated());
  ASSERT_EQ(loop.batches().size(), 2u);
  EXPECT_EQ(loop.arrivals().size(), 6u);
  const InferenceLoop::Activity a = loop.activity();
  EXPECT_EQ(a.items_done, 12u);
  EXPECT_EQ(a.batches, 4u);
  EXPECT_EQ(a.admitted, 12u);
}

}  // namespace
}  // namespace greenbatch::serve
