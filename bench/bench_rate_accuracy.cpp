// Rate accuracy on the real clock: constant arrivals at 1 to 100,000 requests/s through the
// null synthetic backend with greedy:128, about 3 s per rate, longer for the slow rates so
// that p99 rests on more than a handful of dispatches (1/s: 20 s, 10/s: 20 s; --quick: 0.5 s).
// Achieved rate = (n - 1) / (dispatch of the last request - dispatch of the first), where a
// request's dispatch is its batch's start_ns. Dispatch lateness comes from the summary.
// Exits 1 if any rate is off by more than 0.1 % or its lateness p99 exceeds 200 us.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "energy/meter.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

using namespace greenbatch;

namespace {

constexpr double kMaxErrorPct = 0.1;
constexpr double kMaxLateP99Us = 200;

struct Row {
  double target_hz, achieved_hz, error_pct, avg_batch, late_p50_us, late_p99_us, late_max_us;
  std::size_t requests;
};

Row measure(double rate_hz, double seconds) {
  const auto n = std::max<std::size_t>(2, static_cast<std::size_t>(std::llround(rate_hz * seconds)) + 1);
  RealClock clock;
  SyntheticBackend backend(SyntheticParams{0, 0}, clock);
  NoMeter meter("benchmark");
  const std::unique_ptr<BatchPolicy> policy = parse_policy("greedy:128");
  const RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), rate_hz, n, 1), *policy, backend,
                                 meter, clock);
  if (!r.error.empty() || r.completed() != n) throw std::runtime_error("run did not complete: " + r.error);
  const Summary s = summarize(r);
  const TimeNs span = r.batches.back().start_ns - r.batches.front().start_ns;
  const double achieved = static_cast<double>(n - 1) / ns_to_s(span);
  return {rate_hz,
          achieved,
          (achieved - rate_hz) / rate_hz * 100,
          s.avg_batch_size,
          s.dispatch_late_s.p50 * 1e6,
          s.dispatch_late_s.p99 * 1e6,
          s.dispatch_late_s.max * 1e6,
          n};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (argc > 2 || (argc == 2 && !quick)) {
    fmt::print(stderr, "usage: {} [--quick]\n", argv[0]);
    return 2;
  }

  fmt::print("{:>10} {:>9} {:>14} {:>10} {:>9} {:>10} {:>10} {:>10}\n", "target/s", "requests", "achieved/s",
             "error %", "avg batch", "late p50", "late p99", "late max");
  std::vector<std::string> failures;
  for (double rate : {1.0, 10.0, 100.0, 1e3, 1e4, 1e5}) {
    const double seconds = quick ? 0.5 : (rate < 100 ? 20.0 : 3.0);
    const Row r = measure(rate, seconds);
    fmt::print("{:>10.0f} {:>9} {:>14.4f} {:>+10.5f} {:>9.3f} {:>8.1f}us {:>8.1f}us {:>8.1f}us\n", r.target_hz,
               r.requests, r.achieved_hz, r.error_pct, r.avg_batch, r.late_p50_us, r.late_p99_us, r.late_max_us);
    if (std::abs(r.error_pct) > kMaxErrorPct) {
      failures.push_back(fmt::format("{:.0f}/s: rate error {:+.5f} % exceeds {} %", rate, r.error_pct, kMaxErrorPct));
    }
    if (r.late_p99_us > kMaxLateP99Us) {
      failures.push_back(
          fmt::format("{:.0f}/s: lateness p99 {:.1f} us exceeds {} us", rate, r.late_p99_us, kMaxLateP99Us));
    }
  }
  for (const std::string& f : failures) fmt::print("FAIL {}\n", f);
  if (failures.empty()) fmt::print("PASS: every rate within {} %, lateness p99 within {} us\n", kMaxErrorPct, kMaxLateP99Us);
  return failures.empty() ? 0 : 1;
}
