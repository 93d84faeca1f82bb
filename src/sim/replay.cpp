#include "sim/replay.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/energy_math.hpp"

namespace greenbatch {

namespace {
constexpr double kMinSlowdown = 0.01, kMaxSlowdown = 100;
}

double Slowdown::factor_at(TimeNs t) const {
  double f = 1;
  for (const Stretch& s : stretches) {
    if (t >= s.start_ns && (!s.end_ns || t < *s.end_ns)) f *= s.factor;
  }
  return f;
}

Slowdown parse_slowdown(const std::string& text, std::string_view what) {
  Slowdown out;
  out.text = text;
  const auto fail = [&](const std::string& item, const std::string& why) {
    throw UserError(fmt::format("{} '{}': {} (accepted: xF for every batch or xF@START+DURATION for the batches "
                                "starting in that stretch of the run, comma-separated, F from {} to {}; e.g. "
                                "x2@60s+20s,x1.5@180s+30s)",
                                what, item, why, kMinSlowdown, kMaxSlowdown));
  };
  const auto items = split_list(text);
  if (items.empty()) fail(text, "nothing given");
  for (const std::string& item : items) {
    if (item.size() < 2 || item[0] != 'x') fail(item, "a slowdown starts with x and its factor");
    const std::size_t at = item.find('@');
    Slowdown::Stretch s;
    try {
      s.factor = parse_double(std::string_view(item).substr(1, at == std::string::npos ? std::string::npos : at - 1), "factor");
    } catch (const UserError& e) {
      fail(item, e.what());
    }
    if (!(s.factor >= kMinSlowdown && s.factor <= kMaxSlowdown)) fail(item, "the factor is out of range");
    if (at != std::string::npos) {
      const std::string when = item.substr(at + 1);
      const std::size_t plus = when.find('+');
      if (plus == std::string::npos) fail(item, "a stretch is START+DURATION");
      TimeNs d = 0;
      try {
        s.start_ns = parse_duration_ns(when.substr(0, plus), "START");
        d = parse_duration_ns(when.substr(plus + 1), "DURATION");
      } catch (const UserError& e) {
        fail(item, e.what());
      }
      if (d <= 0) fail(item, "the DURATION must be above 0s");
      s.end_ns = s.start_ns + d;
    }
    out.stretches.push_back(s);
  }
  return out;
}

void ProfileBackend::run(std::span<const Request> batch) {
  const std::size_t count = batch.size();
  const TimeNs now = clock_.now();
  const double idle_s = last_end_ns_ ? ns_to_s(now - *last_end_ns_) : 1e9;  // the first batch follows idleness
  const double u = rng_.uniform01();
  const double s = profile_.draw_service_s(count, idle_s, u, rng_.uniform01()) * slowdown_.factor_at(now);
  clock_.sleep_until(now + static_cast<TimeNs>(std::llround(s * 1e9)));
  last_end_ns_ = clock_.now();
}

Energy ProfileMeter::stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) {
  const TimeNs window_ns = now - start_ns_;
  Energy e;
  e.method = "simulated";
  e.window_s = ns_to_s(window_ns);
  if (!profile_.idle_power_w || !profile_.dynamic_power_w(1)) {
    e.reason = "the profile has no energy figures (it was measured without an energy meter)";
    return e;
  }
  std::vector<double> power_by_size;  // each size's dynamic power, looked up once (0: not yet)
  const AboveIdle dynamic = above_idle(batches, [&](std::size_t size) {
    if (size >= power_by_size.size()) power_by_size.resize(size + 1, 0.0);
    if (power_by_size[size] == 0.0) power_by_size[size] = *profile_.dynamic_power_w(size);
    return power_by_size[size];
  });
  // A profile whose energy was estimated from CPU time gives estimated figures, labelled so.
  if (profile_.energy_estimated()) {
    e.estimated = true;
    e.reason = "simulated from a profile whose energy was estimated from CPU time (no sensor), not measured";
  } else {
    e.measured = true;
  }
  e.idle_power_w = profile_.idle_power_w;
  fill_totals(e, idle_plus_busy_joules(*profile_.idle_power_w, window_ns, dynamic.joules), window_ns, images,
              dynamic.joules);
  if (dynamic.busy_s > 0) e.busy_power_w = *profile_.idle_power_w + dynamic.joules / dynamic.busy_s;
  return e;
}

RunOutcome simulate_run(const Profile& profile, const RunSpec& spec, const Slowdown& slowdown) {
  VirtualClock clock;
  ProfileBackend backend(profile, clock, spec.seed, slowdown);
  ProfileMeter meter(profile);
  const ArrivalSpec arrivals = parse_arrivals(spec.arrivals);
  const auto policy = parse_policy(spec.policy);
  const bool whole_trace = arrivals.whole_by_default() && !spec.requests_given;
  std::vector<TimeNs> schedule = generate_schedule(arrivals, spec.rate_hz, whole_trace ? 0 : spec.requests, spec.seed);
  // The record's configuration as a real run of the profile's model would have it, on the
  // virtual clock with the profile's meter.
  RunSpec as_run = spec;
  as_run.model = profile.model;
  as_run.device = profile.device;
  as_run.requests = schedule.size();
  as_run.requests_given = true;
  // The profile's knobs (its backend facts), so that a simulated run of a bf16 profile is one.
  const auto& meta = profile.meta;
  if (meta.is_object() && meta.contains("backend")) as_run.knobs = Knobs::from_backend(meta["backend"]);
  RunOutcome out{record_header(as_run), {}};
  RunRecord& rec = out.record;
  rec.clock = "virtual";
  rec.meter = meter.spec();
  rec.warmup_batches = rec.warmup_batch_size = 0;
  rec.simulated = true;
  rec.backend = {{"backend", "simulated"}, {"profile_model", profile.model}, {"profile_meter", profile.meter}};
  if (!slowdown.empty()) rec.backend["slowdown"] = slowdown.text;
  rec.offered_rate_hz = offered_rate_hz(schedule);
  rec.started_utc = utc_now_iso8601();
  out.result = run_engine(std::move(schedule), *policy, backend, meter, clock);
  rec.summary = summarize(out.result, parse_arrivals(rec.arrivals).varies() ? kLoadWindowNs : 0);
  rec.energy = out.result.energy;
  rec.energy->trace.clear();
  rec.error = out.result.error;
  return out;
}

}  // namespace greenbatch
