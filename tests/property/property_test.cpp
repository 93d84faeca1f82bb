// Properties of the schedule, the batching core, the engine and the summary, for random seeds,
// rates, arrival processes and policies (rapidcheck, 100 cases each, small sizes): on the
// virtual clock with the synthetic backend, so every case is exact and instant.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/core.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

namespace greenbatch {
namespace {

// A rate between 0.5 and 20,000 Hz, spread over the decades.
rc::Gen<double> gen_rate() {
  return rc::gen::map(rc::gen::inRange(0, 1000), [](int k) { return 0.5 * std::pow(40000.0, k / 999.0); });
}

rc::Gen<std::string> gen_arrivals() {
  return rc::gen::oneOf(rc::gen::just<std::string>("constant"), rc::gen::just<std::string>("poisson"),
                        rc::gen::map(rc::gen::inRange(0, 100),
                                     [](int f) { return "jitter:" + std::to_string(f / 100.0); }),
                        rc::gen::just<std::string>("bursty"),
                        rc::gen::map(rc::gen::inRange(2, 9), [](int b) {
                          return "bursty:burst=" + std::to_string(b) + ",on=" + std::to_string(b * 10) + "ms";
                        }));
}

rc::Gen<std::string> gen_policy() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange(1, 33), [](int n) { return "fixed:" + std::to_string(n); }),
      rc::gen::just<std::string>("greedy"),
      rc::gen::map(rc::gen::inRange(1, 65), [](int c) { return "greedy:" + std::to_string(c); }),
      rc::gen::map(rc::gen::pair(rc::gen::inRange(1, 33), rc::gen::inRange(1, 200)), [](std::pair<int, int> p) {
        return "timeout:" + std::to_string(p.first) + ":" + std::to_string(p.second) + "ms";
      }));
}

RC_GTEST_PROP(ScheduleProperty, StartsAtZeroAndNeverDecreases, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const double rate = *gen_rate();
  const std::string arrivals = *gen_arrivals();
  const auto n = *rc::gen::inRange<std::size_t>(1, 300);
  const std::vector<TimeNs> s = generate_schedule(parse_arrivals(arrivals), rate, n, seed);
  RC_ASSERT(s.size() == n);
  RC_ASSERT(s.front() == 0);
  RC_ASSERT(std::is_sorted(s.begin(), s.end()));
}

RC_GTEST_PROP(ScheduleProperty, ConstantAndJitterKeepTheRate, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const double rate = *gen_rate();
  const int jitter = *rc::gen::inRange(0, 100);
  const auto n = *rc::gen::inRange<std::size_t>(50, 300);
  const std::string spec = jitter == 0 ? "constant" : "jitter:" + std::to_string(jitter / 100.0);
  const std::vector<TimeNs> s = generate_schedule(parse_arrivals(spec), rate, n, seed);
  const double mean_rate = static_cast<double>(n - 1) / ns_to_s(s.back() - s.front());
  // Constant: the gap is rounded to the nanosecond. Jitter: each gap within (1 +- F)/rate, so
  // the mean of n - 1 >= 49 gaps is well within 20 % (its standard deviation is under 9 %/7).
  const double tolerance = jitter == 0 ? 1e-6 + 1e-9 * rate : 0.2;
  RC_ASSERT(std::abs(mean_rate / rate - 1) <= tolerance);
}

// The engine on the virtual clock: every request completes once, in contiguous ordered batches
// of at most the policy's maximum, no sooner than it arrived plus its batch's service time.
RC_GTEST_PROP(EngineProperty, EveryRequestCompletesOnceInOrderedBatches, ()) {
  const auto seed = *rc::gen::arbitrary<std::uint64_t>();
  const double rate = *gen_rate();
  const std::string arrivals = *gen_arrivals();
  const std::string policy_spec = *gen_policy();
  const auto n = *rc::gen::inRange<std::size_t>(1, 300);
  const SyntheticParams params{*rc::gen::inRange<TimeNs>(0, 5'000'000), *rc::gen::inRange<TimeNs>(0, 200'000)};
  RC_TAG(arrivals, policy_spec);

  VirtualClock clock;
  SyntheticBackend backend(params, clock);
  NoMeter meter("property");
  const auto policy = parse_policy(policy_spec);
  const std::vector<TimeNs> schedule = generate_schedule(parse_arrivals(arrivals), rate, n, seed);
  const RunResult r = run_engine(schedule, *policy, backend, meter, clock);

  RC_ASSERT(r.error.empty());
  RC_ASSERT(r.arrivals == schedule);
  RC_ASSERT(r.completed() == n);
  std::uint64_t next = 0;
  TimeNs free_at = 0;
  for (const BatchRecord& b : r.batches) {
    RC_ASSERT(b.first_request == next);  // contiguous, in order: each request exactly once
    RC_ASSERT(b.size >= 1u);
    RC_ASSERT(b.size <= policy->max_batch());
    RC_ASSERT(b.start_ns >= free_at);  // one batch at a time
    const TimeNs service = b.end_ns - b.start_ns;
    RC_ASSERT(service == params.service_ns(b.size));
    for (std::uint64_t i = b.first_request; i < b.first_request + b.size; ++i) {
      const TimeNs latency = b.end_ns - r.arrivals[i];
      RC_ASSERT(b.start_ns >= r.arrivals[i]);  // never dispatched before it arrived
      RC_ASSERT(latency >= service);
      RC_ASSERT(latency >= 0);
    }
    next += b.size;
    free_at = b.end_ns;
  }
  RC_ASSERT(next == n);

  const Summary sum = summarize(r);
  RC_ASSERT(sum.requests == n);
  RC_ASSERT(sum.completed == sum.requests);
  RC_ASSERT(sum.batches == r.batches.size());
  RC_ASSERT(sum.latency_s.p50 >= 0.0);
  RC_ASSERT(sum.latency_s.max >= sum.latency_s.p99);
  RC_ASSERT(sum.latency_s.p99 >= sum.latency_s.p50);
  RC_ASSERT(sum.latency_s.max >= sum.service_s.max);
  RC_ASSERT(std::abs(sum.avg_batch_size * static_cast<double>(sum.batches) - static_cast<double>(n)) < 1e-6 * n);
}

// The batching core driven directly (as a server would): random arrival times and service
// times; it hands out each request exactly once, oldest first, and drains.
RC_GTEST_PROP(BatchingCoreProperty, HandsOutEachRequestOnceAndDrains, ()) {
  const std::string policy_spec = *gen_policy();
  const auto gaps = *rc::gen::container<std::vector<TimeNs>>(rc::gen::inRange<TimeNs>(0, 20'000'000));
  const auto services = *rc::gen::nonEmpty(rc::gen::container<std::vector<TimeNs>>(rc::gen::inRange<TimeNs>(1, 30'000'000)));
  std::vector<TimeNs> arrivals;
  TimeNs t = 0;
  for (const TimeNs g : gaps) arrivals.push_back(t += g);
  RC_TAG(policy_spec);

  const auto policy = parse_policy(policy_spec);
  BatchingCore core(*policy);
  std::size_t submitted = 0, served = 0, batches = 0;
  TimeNs now = 0;
  const auto submit_due = [&] {
    while (submitted < arrivals.size() && arrivals[submitted] <= now) {
      core.submit(Request{submitted, arrivals[submitted], submitted, nullptr});
      ++submitted;
    }
    if (submitted == arrivals.size() && !core.closed()) core.close();
  };
  const std::size_t bound = 4 * arrivals.size() + 8;  // decisions: far more than any policy needs
  for (std::size_t step = 0;; ++step) {
    RC_ASSERT(step < bound);
    submit_due();
    const Wakeup w = core.next_wakeup(now);
    if (w.kind == Wakeup::Kind::kDrained) break;
    const bool more = submitted < arrivals.size();
    if (w.kind == Wakeup::Kind::kDispatch) {
      RC_ASSERT(!w.batch.empty());
      RC_ASSERT(w.batch.size() <= policy->max_batch());
      for (const Request& req : w.batch) RC_ASSERT(req.id == served++);  // oldest first, each once
      const TimeNs start = now;
      now += services[batches % services.size()];
      core.on_batch_done(BatchRecord{start, now, 0, w.batch.front().id, static_cast<std::uint32_t>(w.batch.size())});
      ++batches;
    } else if (w.kind == Wakeup::Kind::kAt) {
      RC_ASSERT(w.at > now);
      now = more ? std::min(w.at, arrivals[submitted]) : w.at;
    } else {
      RC_ASSERT(more);  // waiting for a submission that can still come
      now = arrivals[submitted];
    }
  }
  RC_ASSERT(served == arrivals.size());
  RC_ASSERT(core.waiting() == 0u);
}

}  // namespace
}  // namespace greenbatch
