#include "engine/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace greenbatch {

RunResult run_engine(std::vector<TimeNs> arrivals, const BatchPolicy& policy, Backend& backend,
                     EnergyMeter& meter, Clock& clock, const std::atomic<bool>* cancel) {
  RunResult r;
  r.arrivals = std::move(arrivals);
  const std::vector<TimeNs>& a = r.arrivals;
  const std::size_t n = a.size();
  // Room for one batch per request: growing the vector in the middle of a real-clock run
  // stalls the loop for milliseconds. Pages never written cost no memory.
  r.batches.reserve(n);

  const TimeNs origin = clock.now();
  auto now_rel = [&] { return clock.now() - origin; };
  meter.start(0);

  std::size_t next = 0;  // first request not yet arrived
  std::size_t head = 0;  // oldest waiting request
  while (head < n) {
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      r.interrupted = true;
      r.error = "interrupted";
      break;
    }
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
        break;
      }
      case Decision::Kind::kWaitUntil: {
        if (d.until <= now) {
          throw std::logic_error(fmt::format("policy {} asked to wait until {} ns, not after now ({} ns)",
                                             policy.spec(), d.until, now));
        }
        clock.sleep_until(origin + (next < n ? std::min(d.until, a[next]) : d.until));
        break;
      }
      case Decision::Kind::kWaitForArrival: {
        if (next == n) {
          throw std::logic_error(fmt::format("policy {} waits for an arrival after the stream closed, with {} waiting",
                                             policy.spec(), waiting.size()));
        }
        clock.sleep_until(origin + a[next]);
        break;
      }
    }
  }
  r.energy = meter.stop(r.window_end_ns(), r.batches, r.completed());
  // After the run, not in the loop: costs the measured run nothing.
  fill_dispatch_lateness(policy, r.arrivals, r.batches);
  return r;
}

TimeNs intended_dispatch(const BatchPolicy& policy, std::span<const TimeNs> a, std::size_t head, TimeNs free_at,
                         TimeNs limit) {
  const std::size_t n = a.size();
  TimeNs t = free_at;
  std::size_t next = head;
  while (true) {
    while (next < n && a[next] <= t) ++next;
    const Decision d = policy.decide(std::span<const TimeNs>(a.data() + head, next - head), t, next == n);
    if (d.kind == Decision::Kind::kDispatch) return t;
    TimeNs event = next < n ? a[next] : limit;
    if (d.kind == Decision::Kind::kWaitUntil) event = std::min(event, d.until);
    if (event >= limit || event <= t) return limit;
    t = event;
  }
}

void fill_dispatch_lateness(const BatchPolicy& policy, std::span<const TimeNs> arrivals,
                            std::span<BatchRecord> batches) {
  TimeNs free_at = 0;
  for (BatchRecord& b : batches) {
    b.late_ns = b.start_ns - intended_dispatch(policy, arrivals, b.first_request, free_at, b.start_ns);
    free_at = b.end_ns;
  }
}

}  // namespace greenbatch
