#include "engine/engine.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace greenbatch {

RunResult run_engine(std::vector<TimeNs> arrivals, BatchPolicy& policy, Backend& backend, EnergyMeter& meter,
                     Clock& clock, const std::atomic<bool>* cancel) {
  RunResult r;
  r.arrivals = std::move(arrivals);
  const std::vector<TimeNs>& a = r.arrivals;
  const std::size_t n = a.size();
  // Room for one batch per request: growing the vector in the middle of a real-clock run
  // stalls the loop for milliseconds. Pages never written cost no memory.
  r.batches.reserve(n);
  BatchingCore core(policy);

  const TimeNs origin = clock.now();
  auto now_rel = [&] { return clock.now() - origin; };
  backend.start_requests();
  meter.start(0);

  std::size_t next = 0;  // first request not yet submitted
  TimeNs meant_ns = 0;   // when the engine meant to act: the server became free, or the wake-up it slept for
  if (n == 0) core.close();
  while (true) {
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      r.interrupted = true;
      r.error = "interrupted";
      break;
    }
    const TimeNs now = now_rel();
    for (; next < n && a[next] <= now; ++next) {
      const Request request{next, a[next], next, nullptr};
      backend.arrived(request);
      core.submit(request);
    }
    if (next == n && !core.closed()) core.close();
    const Wakeup w = core.next_wakeup(now);
    if (w.kind == Wakeup::Kind::kDrained) break;
    if (w.kind == Wakeup::Kind::kDispatch) {
      BatchRecord b;
      b.start_ns = now_rel();
      b.late_ns = b.start_ns - meant_ns;
      b.first_request = w.batch.front().id;
      b.size = static_cast<std::uint32_t>(w.batch.size());
      try {
        backend.run(w.batch);
      } catch (const std::exception& e) {
        r.error = fmt::format("batch {} (size {}, requests {}..{}): {}", r.batches.size(), b.size, b.first_request,
                              b.first_request + b.size - 1, e.what());
        break;  // what ran before stays recorded
      }
      b.end_ns = now_rel();
      core.on_batch_done(b);
      r.batches.push_back(b);
      meant_ns = b.end_ns;
      continue;
    }
    // Sleep to the policy's wake-up or the next arrival, whichever is first. (kOnSubmit with
    // nothing left to submit cannot happen: the core raised it as a contract violation.)
    meant_ns = w.kind == Wakeup::Kind::kAt && next < n ? std::min(w.at, a[next])
               : w.kind == Wakeup::Kind::kAt       ? w.at
                                                     : a[next];
    clock.sleep_until(origin + meant_ns);
  }
  r.energy = meter.stop(r.window_end_ns(), r.batches, r.completed());
  r.prepare_ns = backend.prepare_times();
  return r;
}

}  // namespace greenbatch
