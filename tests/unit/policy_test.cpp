#include "batching/policy.hpp"

#include "batching/fixed.hpp"
#include "batching/greedy.hpp"
#include "batching/timeout.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace greenbatch {
namespace {

std::vector<TimeNs> waiting(std::size_t n, TimeNs first = 0, TimeNs gap = 10) {
  std::vector<TimeNs> w;
  for (std::size_t i = 0; i < n; ++i) w.push_back(first + static_cast<TimeNs>(i) * gap);
  return w;
}

TEST(Policy, FixedWaitsForNThenTakesN) {
  FixedPolicy p(16);
  EXPECT_EQ(p.decide(waiting(15), 1000, false).kind, Decision::Kind::kWaitForArrival);
  const Decision d = p.decide(waiting(40), 1000, false);
  EXPECT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 16u);
  EXPECT_EQ(p.decide(waiting(0), 1000, true).kind, Decision::Kind::kWaitForArrival);
}

TEST(Policy, FixedSendsThePartialBatchWhenTheStreamEnds) {
  FixedPolicy p(16);
  const Decision d = p.decide(waiting(4), 1000, true);
  EXPECT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 4u);
}

TEST(Policy, GreedyTakesAllUpToItsCap) {
  GreedyPolicy p(128);
  EXPECT_EQ(p.decide(waiting(0), 0, false).kind, Decision::Kind::kWaitForArrival);
  EXPECT_EQ(p.decide(waiting(1), 0, false).count, 1u);
  EXPECT_EQ(p.decide(waiting(77), 0, false).count, 77u);
  EXPECT_EQ(p.decide(waiting(500), 0, false).count, 128u);
}

TEST(Policy, TimeoutDispatchesAtNOrAtTheOldestsDeadline) {
  TimeoutPolicy p(16, 50 * kNsPerMs);
  EXPECT_EQ(p.decide(waiting(16), 0, false).count, 16u);
  EXPECT_EQ(p.decide(waiting(20), 0, false).count, 16u);
  // Three waiting, the oldest arrived at 7 ms: wake at 57 ms.
  Decision d = p.decide(waiting(3, 7 * kNsPerMs), 20 * kNsPerMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_EQ(d.until, 57 * kNsPerMs);
  d = p.decide(waiting(3, 7 * kNsPerMs), 57 * kNsPerMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 3u);
  // The stream has ended: no reason to wait for the deadline.
  EXPECT_EQ(p.decide(waiting(3), 1, true).count, 3u);
  EXPECT_EQ(p.decide(waiting(0), 1, false).kind, Decision::Kind::kWaitForArrival);
}

TEST(Policy, SpecsRoundTrip) {
  EXPECT_EQ(parse_policy("fixed:16")->spec(), "fixed:16");
  EXPECT_EQ(parse_policy("greedy")->spec(), "greedy:128");
  EXPECT_EQ(parse_policy("greedy:64")->spec(), "greedy:64");
  EXPECT_EQ(parse_policy("timeout:32:50ms")->spec(), "timeout:32:50ms");
  EXPECT_EQ(parse_policy("timeout:32:0.05s")->spec(), "timeout:32:50ms");
  EXPECT_EQ(parse_policy("timeout:8:1500us")->spec(), "timeout:8:1500us");
  EXPECT_EQ(parse_policy("fixed:128")->max_batch(), 128u);
}

TEST(Policy, BadSpecsSayWhatWasWrongAndWhatIsAccepted) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"fixed:0", "N must be from 1"},        {"timeout:32", "needs a batch size and a delay"},
      {"greedy:-1", "CAP must be from 1"},    {"fixd:16", "unknown policy 'fixd'"},
      {"fixed", "needs its batch size"},      {"fixed:abc", "not a whole number"},
      {"timeout:32:50", "no unit"},           {"timeout:0:50ms", "N must be from 1"},
      {"fixed:1000000", "N must be from 1"},  {"timeout::50ms", "needs a batch size"},
  };
  for (const auto& [spec, fragment] : cases) {
    try {
      parse_policy(spec);
      FAIL() << spec << " was accepted";
    } catch (const UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + spec + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
      EXPECT_NE(msg.find("accepted: fixed:N"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

// The registry: one place that knows every kind, its label, order and tuning candidates.
TEST(PolicyRegistry, KnowsEachKindsLabelOrderAndCandidates) {
  ASSERT_EQ(policy_kinds().size(), 6u);
  EXPECT_EQ(policy_kinds()[0]->name, "fixed");
  EXPECT_EQ(policy_label("fixed:16"), "16");
  EXPECT_EQ(policy_label("greedy"), "G");
  EXPECT_EQ(policy_label("timeout:8:0.1s"), "T8/100ms");
  EXPECT_EQ(policy_label("adaptive:p99=200ms"), "A");
  EXPECT_EQ(policy_label("aimd:p99=200ms"), "AIMD");
  EXPECT_EQ(policy_label("later:someday"), "later:someday");  // a record from another build
  EXPECT_LT(policy_order("fixed:128"), policy_order("greedy:8"));
  EXPECT_LT(policy_order("fixed:8"), policy_order("fixed:16"));
  EXPECT_LT(policy_order("timeout:8:1ms"), policy_order("timeout:16:1ms"));
  EXPECT_LT(policy_order("timeout:64:1ms"), policy_order("adaptive:p99=1s"));
  EXPECT_LT(policy_order("adaptive:p99=1s"), policy_order("aimd:p99=1s"));
  EXPECT_LT(policy_order("aimd:p99=1s"), policy_order("later:someday"));
  const std::vector<std::string> c = tune_candidates(TuneSpace{3, {kNsPerMs, 2 * kNsPerMs}, ""});
  const std::vector<std::string> expected = {"fixed:1",  "fixed:2",        "fixed:3",        "greedy:1",
                                             "greedy:2", "greedy:3",       "timeout:2:1ms",  "timeout:2:2ms",
                                             "timeout:3:1ms", "timeout:3:2ms"};
  EXPECT_EQ(c, expected);
  for (const std::string& spec : c) EXPECT_EQ(parse_policy(spec)->spec(), spec);
}

}  // namespace
}  // namespace greenbatch
