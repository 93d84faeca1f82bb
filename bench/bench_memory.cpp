// Peak memory: 10,000,000 requests (null synthetic backend, virtual clock, fixed:16 at
// 1000 Hz, constant arrivals), keeping the full RunResult (every arrival time, every batch
// record) and its summary alive, then peak RSS from getrusage(RUSAGE_SELF).ru_maxrss and
// bytes per request, with the time each stage took. Exits 1 if peak RSS reaches 1 GiB.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <memory>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "energy/meter.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

using namespace greenbatch;

namespace {

constexpr std::size_t kRequests = 10'000'000;
constexpr double kLimitMiB = 1024;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  VirtualClock clock;
  SyntheticBackend backend(SyntheticParams{0, 0}, clock);
  NoMeter meter("benchmark");
  const std::unique_ptr<BatchPolicy> policy = parse_policy("fixed:16");

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<TimeNs> schedule = generate_schedule(parse_arrivals("constant"), 1000, kRequests, 1);
  const double t_schedule = seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  const RunResult result = run_engine(std::move(schedule), *policy, backend, meter, clock);
  const double t_engine = seconds_since(t1);
  const auto t2 = std::chrono::steady_clock::now();
  const Summary summary = summarize(result);
  const double t_summary = seconds_since(t2);
  const double t_total = seconds_since(t0);

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_bytes = static_cast<double>(ru.ru_maxrss) * 1024;  // ru_maxrss is in KiB on Linux
  const double peak_mib = peak_bytes / (1024 * 1024);

  fmt::print("requests          {}\n", summary.requests);
  fmt::print("completed         {}\n", summary.completed);
  fmt::print("batches           {} (kept: {} arrival times, {} batch records)\n", summary.batches,
             result.arrivals.size(), result.batches.size());
  fmt::print("time              schedule {:.3f} s, engine {:.3f} s, summary {:.3f} s, total {:.3f} s\n", t_schedule,
             t_engine, t_summary, t_total);
  fmt::print("peak RSS          {:.1f} MiB ({:.1f} bytes per request)\n", peak_mib,
             peak_bytes / static_cast<double>(kRequests));
  if (summary.completed != kRequests) {
    fmt::print("FAIL: {} of {} requests completed\n", summary.completed, kRequests);
    return 1;
  }
  if (peak_mib >= kLimitMiB) {
    fmt::print("FAIL: peak RSS {:.1f} MiB is not below {} MiB\n", peak_mib, kLimitMiB);
    return 1;
  }
  fmt::print("PASS: peak RSS below {} MiB\n", kLimitMiB);
  return 0;
}
