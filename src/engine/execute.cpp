#include "engine/execute.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#ifdef GREENBATCH_WITH_TORCH
#include "backends/torchscript/torchscript_backend.hpp"
#endif
#include "build_info.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/power_limit.hpp"

namespace greenbatch {

struct PreparedRun::Parts {
  RunSession own;              // used when the caller gives no session
  RunSession* session = nullptr;
  std::unique_ptr<BatchPolicy> policy;
  std::unique_ptr<EnergyMeter> meter;
  std::vector<TimeNs> schedule;
};

std::unique_ptr<Backend> make_backend(const RunSpec& spec, Clock& clock) {
  if (is_synthetic_spec(spec.model)) return std::make_unique<SyntheticBackend>(parse_synthetic(spec.model), clock);
#ifdef GREENBATCH_WITH_TORCH
  TorchScriptOptions o;
  o.model = spec.model;
  o.models_dir = spec.models_dir;
  o.device = spec.device;
  o.threads = spec.threads;
  o.optimize = spec.graph_optimize;
  o.preprocess = spec.preprocess;
  o.preprocess_threads = spec.preprocess_threads;
  o.host_memory = spec.host_memory;
  o.knobs = spec.knobs;
  o.images_dir = spec.images_dir;
  return make_torchscript_backend(o);
#else
  throw UserError(fmt::format(
      "--model '{}': this build has no LibTorch backend (configured with GREENBATCH_WITH_TORCH=OFF); it runs "
      "synthetic models only: synthetic or synthetic:base=D,per_item=D",
      spec.model));
#endif
}

void check_run_spec(const RunSpec& spec, const ArrivalSpec& arrivals) {
  if (spec.warmup_batches > 0 && spec.warmup_batch_size == 0) {
    throw UserError("--warmup-batch-size: must be at least 1 when --warmup-batches is not 0");
  }
  if (spec.warmup_batches > limits::kMaxWarmupBatches) {
    throw UserError(fmt::format("--warmup-batches: {} is above the largest accepted, {}", spec.warmup_batches,
                                limits::kMaxWarmupBatches));
  }
  if (spec.warmup_batch_size > kMaxPolicyBatch) {
    throw UserError(fmt::format("--warmup-batch-size: {} is above the largest accepted, {}", spec.warmup_batch_size,
                                kMaxPolicyBatch));
  }
  if (spec.threads < 0 || static_cast<std::uint64_t>(spec.threads) > limits::kMaxThreads) {
    throw UserError(fmt::format("--threads: {} is not from 0 to {}", spec.threads, limits::kMaxThreads));
  }
  if (spec.preprocess_threads < -1 || spec.preprocess_threads > static_cast<int>(limits::kMaxThreads)) {
    throw UserError(fmt::format("--preprocess-threads: {} is not auto or from 0 to {}", spec.preprocess_threads,
                                limits::kMaxThreads));
  }
  check_knobs(spec.knobs, canonical_device(spec.model, spec.device));
  if (spec.idle_window_ns < 0 || spec.idle_window_ns > limits::kMaxTimeNs) {
    throw UserError("--idle-window: must be from 0 to 100 years");
  }
  const bool whole_trace = arrivals.whole_by_default() && !spec.requests_given;
  if (!whole_trace) check_requests(spec.requests, "--requests");
  check_schedule(arrivals, spec.rate_hz, whole_trace ? 0 : spec.requests);
}

RunSession::RunSession() = default;
RunSession::~RunSession() = default;

void RunSession::reset() {
  backend.reset();
  clock.reset();
  identity.clear();
  warmed_up = false;
}

PreparedRun::PreparedRun(const RunSpec& spec, RunSession* session) : parts_(std::make_unique<Parts>()) {
  Parts& p = *parts_;
  p.session = session ? session : &p.own;
  RunSession& ses = *p.session;
  const ArrivalSpec arrivals = parse_arrivals(spec.arrivals);
  p.policy = parse_policy(spec.policy);
  check_meter_spec(spec.meter);
  check_run_spec(spec, arrivals);
  if (!spec.carbon_intensity.empty()) carbon_ = parse_carbon_intensity(spec.carbon_intensity);
  // A session keeps its model loaded (and warm) while the runs that use it go on.
  const std::string identity =
      fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", spec.model, spec.device, name_of(spec.clock), spec.threads,
                  name_of(spec.preprocess), spec.preprocess_threads, spec.graph_optimize, spec.models_dir, spec.images_dir,
                  name_of(spec.host_memory), spec.knobs.text());
  if (!ses.backend || ses.identity != identity) {
    ses.backend.reset();
    ses.clock.reset();
    if (spec.clock == ClockKind::kReal) ses.clock = std::make_unique<RealClock>();
    else ses.clock = std::make_unique<VirtualClock>();
    ses.backend = make_backend(spec, *ses.clock);
    ses.identity = identity;
    ses.warmed_up = false;
  }
  Backend& backend = *ses.backend;
  Clock& clock = *ses.clock;
  const nlohmann::json facts = backend.facts();
  MeterContext ctx;
  ctx.device = backend.device();
  if (facts.contains("device_uuid") && facts["device_uuid"].is_string()) ctx.device_uuid = facts["device_uuid"];
  p.meter = make_meter(spec.meter, ctx);
  if (clock.is_virtual() && !(backend.follows_clock() && p.meter->follows_clock())) {
    throw UserError(fmt::format("--clock virtual needs a synthetic model and a modelled or no meter; '{}' runs in real time",
                                spec.model));
  }
  const bool whole_trace = arrivals.whole_by_default() && !spec.requests_given;
  p.schedule = generate_schedule(arrivals, spec.rate_hz, whole_trace ? 0 : spec.requests, spec.seed);
  if (is_synthetic_spec(spec.model)) check_synthetic_run(parse_synthetic(spec.model), p.schedule.size());

  // The canonical configuration, from the same function the plan of a sweep uses for its
  // identities; then what only the loaded parts know.
  RunSpec resolved = spec;
  resolved.requests = p.schedule.size();
  resolved.requests_given = true;
  header_ = record_header(resolved);
  header_.meter = p.meter->spec();
  header_.backend = facts;
  idle_window_ns_ = spec.idle_window_ns;
  power_limit_w_ = spec.knobs.power_limit_w;
  power_limit_uuid_ = ctx.device_uuid;
  power_limit_index_ = PowerLimitGuard::index_of(header_.device);
}

PreparedRun::~PreparedRun() = default;

void PreparedRun::set_schedule(std::vector<TimeNs> schedule) {
  if (schedule.empty() || !std::is_sorted(schedule.begin(), schedule.end())) {
    throw std::invalid_argument("PreparedRun::set_schedule: the schedule must be ascending and not empty");
  }
  header_.requests = schedule.size();
  parts_->schedule = std::move(schedule);
}

RunOutcome PreparedRun::execute() {
  Parts& p = *parts_;
  RunOutcome out{header_, {}};
  RunRecord& rec = out.record;
  // The power limit holds from the idle measurement to the run's end, and is restored on every
  // way out of here (an error, a stop by the cancel flag) by the guard's destructor.
  std::optional<PowerLimitGuard> power_limit;
  if (power_limit_w_) {
    power_limit.emplace(*power_limit_w_, power_limit_uuid_, power_limit_index_);
    if (!rec.backend.is_object()) rec.backend = nlohmann::json::object();
    rec.backend["power_limit"] = power_limit->facts();
  }
  // Idle power first, with the model loaded but nothing running; then warm-up; then the run.
  try {
    p.meter->measure_idle_w(idle_window_ns_);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("measuring idle power failed: {}", e.what()));
  }
  RunSession& ses = *p.session;
  if (!ses.warmed_up) {
    ses.backend->warmup(rec.warmup_batches, rec.warmup_batch_size);
    ses.warmed_up = true;
  } else {
    rec.warmup_batches = rec.warmup_batch_size = 0;  // warm already: this model ran just before
  }
  rec.offered_rate_hz = offered_rate_hz(p.schedule);
  rec.started_utc = utc_now_iso8601();
  out.result = run_engine(std::move(p.schedule), *p.policy, *ses.backend, *p.meter, *ses.clock, cancel_);
  rec.summary = summarize(out.result, parse_arrivals(rec.arrivals).varies() ? kLoadWindowNs : 0);
  // The record keeps the energy figures; the power trace stays with the result (its writer's).
  std::vector<PowerSample> trace = std::move(out.result.energy.trace);
  rec.energy = out.result.energy;
  out.result.energy.trace = std::move(trace);
  if (!carbon_.empty()) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    apply_carbon(rec, carbon_, std::chrono::duration<double>(now).count());
  }
  rec.error = out.result.error;
  return out;
}

}  // namespace greenbatch
