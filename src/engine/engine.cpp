#include "engine/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace greenbatch {

RunResult run_engine(std::vector<TimeNs> arrivals, const BatchPolicy& policy, Backend& backend,
                     EnergyMeter& meter, Clock& clock) {
  RunResult r;
  r.arrivals = std::move(arrivals);
  const std::vector<TimeNs>& a = r.arrivals;
  const std::size_t n = a.size();
  r.batches.reserve(n / std::max<std::size_t>(1, policy.max_batch()) + 16);

  const TimeNs origin = clock.now();
  auto now_rel = [&] { return clock.now() - origin; };
  meter.start(0);

  std::size_t next = 0;  // first request not yet arrived
  std::size_t head = 0;  // oldest waiting request
  bool slept = false;
  TimeNs wake_target = 0;
  while (head < n) {
    const TimeNs now = now_rel();
    while (next < n && a[next] <= now) ++next;
    const std::span<const TimeNs> waiting(a.data() + head, next - head);
    const bool closed = next == n;
    const Decision d = policy.decide(waiting, now, closed);
    switch (d.kind) {
      case Decision::Kind::kDispatch: {
        if (d.count == 0 || d.count > waiting.size()) {
          throw std::logic_error(fmt::format("policy {} asked to dispatch {} of {} waiting requests",
                                             policy.spec(), d.count, waiting.size()));
        }
        BatchRecord b;
        b.start_ns = now_rel();
        b.late_ns = b.start_ns - (slept ? wake_target : now);
        b.first_request = head;
        b.size = static_cast<std::uint32_t>(d.count);
        try {
          backend.run(head, d.count);
        } catch (const std::exception& e) {
          r.error = fmt::format("batch {} (size {}, requests {}..{}): {}", r.batches.size(), d.count, head,
                                head + d.count - 1, e.what());
          head = n;  // stop; what ran before stays recorded
          break;
        }
        b.end_ns = now_rel();
        r.batches.push_back(b);
        head += d.count;
        slept = false;
        break;
      }
      case Decision::Kind::kWaitUntil: {
        if (d.until <= now) {
          throw std::logic_error(fmt::format("policy {} asked to wait until {} ns, not after now ({} ns)",
                                             policy.spec(), d.until, now));
        }
        wake_target = next < n ? std::min(d.until, a[next]) : d.until;
        clock.sleep_until(origin + wake_target);
        slept = true;
        break;
      }
      case Decision::Kind::kWaitForArrival: {
        if (next == n) {
          throw std::logic_error(fmt::format("policy {} waits for an arrival after the stream closed, with {} waiting",
                                             policy.spec(), waiting.size()));
        }
        wake_target = a[next];
        clock.sleep_until(origin + wake_target);
        slept = true;
        break;
      }
    }
  }
  r.energy = meter.stop(r.window_end_ns(), r.batches, r.completed());
  return r;
}

}  // namespace greenbatch
