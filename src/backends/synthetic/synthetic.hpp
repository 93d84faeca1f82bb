#pragma once
// A backend without a network: service time = base + per_item x batch size, spent on the
// engine's clock (a real sleep on the real clock, a jump on the virtual one).
#include <memory>
#include <string_view>

#include "backends/backend.hpp"
#include "core/clock.hpp"

namespace greenbatch {

struct SyntheticParams {
  TimeNs base_ns = 0;
  TimeNs per_item_ns = 0;
  std::size_t max_batch = 0;  // > 0: larger batches fail, as on a device out of memory (a test seam)
  // > 0: service time grows by this fraction per second of the clock, as on a machine that drifts
  // (a test seam for measurements that must not depend on when each part was measured).
  double drift_per_s = 0;
  // > 0: from this batch size up, each item costs `per_item_from_ns` instead, as on a CPU whose
  // kernels switch at a batch size (a test seam for profile --refine).
  std::size_t switch_at = 0;
  TimeNs per_item_from_ns = 0;
  // > 0: stalls once, as a server hit by a pause (garbage collection, a page fault storm, a
  // noisy neighbour): the first batch that starts `stall_at_ns` or more after the backend's first
  // batch (on its clock) takes `stall_ns` longer. For showing coordinated omission.
  TimeNs stall_ns = 0;
  TimeNs stall_at_ns = 0;
  TimeNs service_ns(std::size_t batch) const {
    const TimeNs per_item = switch_at > 0 && batch >= switch_at ? per_item_from_ns : per_item_ns;
    return base_ns + per_item * static_cast<TimeNs>(batch);
  }
};

class SyntheticBackend final : public Backend {
 public:
  SyntheticBackend(SyntheticParams params, Clock& clock) : params_(params), clock_(clock) {}
  void run(std::span<const Request> batch) override;
  // A null model's output: one logit per request, 0 (its top1 is class 0 with probability 1).
  void run_outputs(std::span<const Request> batch, BatchOutput& out) override {
    run(batch);
    out.width = 1;
    out.values.assign(batch.size(), 0.0f);
  }
  std::string model() const override;
  std::string device() const override { return "synthetic"; }
  bool follows_clock() const override { return true; }
  const SyntheticParams& params() const { return params_; }

 private:
  SyntheticParams params_;
  Clock& clock_;
  TimeNs first_batch_ns_ = -1;  // when its first batch started; -1: none yet
  bool stalled_ = false;
};

// True when `spec` names the synthetic backend ("synthetic" or "synthetic:...").
bool is_synthetic_spec(std::string_view spec);
// "synthetic" (the null backend) or
// "synthetic:base=2ms,per_item=100us[,max_batch=N][,drift=F][,switch_at=N,per_item_from=D][,stall=D@D]".
SyntheticParams parse_synthetic(std::string_view spec);
// The service of `requests` requests, every one in a batch of its own (the longest a run can
// spend), plus the stall, must fit in limits::kMaxTimeNs (100 years), so that no time on the run's clock
// overflows. Throws UserError with the bound.
void check_synthetic_run(const SyntheticParams& p, std::size_t requests);
// The canonical spec of `p`, as runs record it: "synthetic:base=2ms,per_item=100us".
std::string synthetic_spec(const SyntheticParams& p);

}  // namespace greenbatch
