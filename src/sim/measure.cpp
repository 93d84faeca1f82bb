#include "sim/measure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

#include "arrivals/rng.hpp"
#include "batching/policy.hpp"
#include "build_info.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"
#include "core/sysinfo.hpp"

namespace greenbatch {

namespace {

// 101 quantiles (0, 1, ..., 100 %) of sorted values.
std::vector<double> quantiles(const std::vector<double>& sorted) {
  std::vector<double> q;
  for (int k = 0; k <= 100; ++k) q.push_back(percentile_sorted(sorted, k));
  return q;
}

// What one batch size's measurement gathers over the rounds.
struct SizeMeasure {
  std::size_t batch = 0;
  std::vector<double> service_s;                          // back to back
  std::optional<double> joules = 0.0;                     // the meter's, summed (nullopt: a round had none)
  double energy_window_s = 0, window_s = 0;               // summed over the rounds
  std::vector<std::vector<double>> after_s, after_idle_s;  // per idle time: service, and the idleness before
  std::vector<double> round_median_s, round_p90_s;         // back to back, each round's (p90: rounds of 10 batches or more)
};

// How far each size's back-to-back median and p90 moved between the rounds, as a share of the
// whole profile's: a machine whose speed changes while it is profiled. Null with one round.
// Each size's service_s must be sorted.
nlohmann::json stability_record(const std::vector<SizeMeasure>& ms, std::size_t rounds) {
  if (rounds < 2) return nullptr;
  nlohmann::json j = {{"round_medians_s", nlohmann::json::object()}, {"round_p90s_s", nlohmann::json::object()}};
  auto worst = [&](const char* name, auto rounds_of, double q) {
    double spread = -1;
    std::size_t at = 0;
    for (const SizeMeasure& m : ms) {
      const std::vector<double>& v = rounds_of(m);
      j[std::string("round_") + name + "s_s"][std::to_string(m.batch)] = v;
      if (v.size() < 2) continue;
      const double whole = percentile_sorted(m.service_s, q);
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      if (whole > 0 && (*hi - *lo) / whole > spread) {
        spread = (*hi - *lo) / whole;
        at = m.batch;
      }
    }
    j[std::string(name) + "_spread"] = spread < 0 ? nlohmann::json(nullptr) : nlohmann::json(spread);
    j[std::string(name) + "_spread_batch_size"] = spread < 0 ? nlohmann::json(nullptr) : nlohmann::json(at);
  };
  worst("median", [](const SizeMeasure& m) -> const std::vector<double>& { return m.round_median_s; }, 50);
  worst("p90", [](const SizeMeasure& m) -> const std::vector<double>& { return m.round_p90_s; }, 90);
  return j;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return percentile_sorted(v, 50);
}

// Service times after idleness, as at low request rates: bursts of the batch size, each after
// the server idled for one of the idle times. Steady (the default): each idle time in one
// stretch, as a run sees it, the stretches in a seeded random order; shuffled: every burst's idle
// time in a seeded random order. Rounds spread the stretches over the profile (on a shared
// machine, slow spells last seconds and more). Each batch is classed by
// the idleness it actually followed (a slow batch shortens the next idle), the nearest idle time
// in log time; a batch that found the server busy counts as back to back. One batch size at a
// time: mixing sizes in one stretch measured batches faster than runs of one size saw them.
// (docs/measurements/simulator.md compares these choices.) This is one round's share.
void measure_after_idle(const ProfileOptions& o, RunSession& session, Rng& rng, SizeMeasure& m) {
  const std::size_t n_gaps = o.idle_gaps_ns.size();
  if (n_gaps == 0) return;
  const double median_s = median_of(m.service_s);
  auto shuffle = [&rng](std::vector<std::size_t>& v) {
    for (std::size_t i = v.size(); i > 1; --i) {
      std::swap(v[i - 1], v[std::min(i - 1, static_cast<std::size_t>(rng.uniform01() * static_cast<double>(i)))]);
    }
  };
  std::vector<std::size_t> gaps(n_gaps);  // the idle times in the order their stretches come (steady)
  for (std::size_t g = 0; g < n_gaps; ++g) gaps[g] = g;
  if (o.steady_idle) shuffle(gaps);
  std::vector<std::size_t> order;  // the idle time before each burst
  for (std::size_t g : gaps) {
    const double spacing = median_s + ns_to_s(o.idle_gaps_ns[g]);
    const auto k = std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(ns_to_s(o.min_window_ns) / spacing)),
                                           std::max(o.min_batches, o.idle_samples),
                                           std::max<std::size_t>(o.idle_samples, 200));
    order.insert(order.end(), (k + o.rounds - 1) / o.rounds, g);
  }
  if (!o.steady_idle) shuffle(order);
  std::vector<TimeNs> schedule;
  TimeNs t = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i > 0) t += static_cast<TimeNs>(std::llround(median_s * 1e9)) + o.idle_gaps_ns[order[i]];
    schedule.insert(schedule.end(), m.batch, t);
  }
  RunSpec spec = o.spec;
  spec.policy = fmt::format("fixed:{}", m.batch);
  spec.meter = "none";
  spec.idle_window_ns = 0;
  spec.requests = schedule.size();
  spec.requests_given = true;
  PreparedRun spaced(spec, &session);
  spaced.set_schedule(std::move(schedule));
  const RunOutcome r = spaced.execute();
  if (!r.result.error.empty()) {
    throw UserError(fmt::format("profiling batch size {} after idleness: {}", m.batch, r.result.error));
  }
  m.after_s.resize(n_gaps);
  m.after_idle_s.resize(n_gaps);
  const auto& bs = r.result.batches;
  for (std::size_t i = 1; i < bs.size(); ++i) {
    const double idle_s = ns_to_s(bs[i].start_ns - bs[i - 1].end_ns);
    if (idle_s < ns_to_s(kBackToBackIdleNs)) continue;
    std::size_t best = 0;
    for (std::size_t g = 1; g < n_gaps; ++g) {
      if (std::abs(std::log(idle_s / ns_to_s(o.idle_gaps_ns[g]))) <
          std::abs(std::log(idle_s / ns_to_s(o.idle_gaps_ns[best])))) {
        best = g;
      }
    }
    m.after_s[best].push_back(ns_to_s(bs[i].end_ns - bs[i].start_ns));
    m.after_idle_s[best].push_back(idle_s);
  }
}

// `batches` batches of size b back to back (every request waiting before the first dispatch),
// with `meter` (none: a probe or a scan) and an idle-power window first if one is given.
// Throws UserError if the backend fails.
RunOutcome back_to_back(const ProfileOptions& o, RunSession& session, std::size_t b, std::size_t batches,
                       const std::string& meter = "none", TimeNs idle_window_ns = 0) {
  RunSpec spec = o.spec;
  spec.policy = fmt::format("fixed:{}", b);
  spec.arrivals = "constant";
  spec.rate_hz = 1e9;
  spec.requests = b * batches;
  spec.requests_given = true;
  spec.meter = meter;
  spec.idle_window_ns = idle_window_ns;
  PreparedRun run(spec, &session);
  RunOutcome r = run.execute();
  if (!r.result.error.empty()) throw UserError(fmt::format("profiling batch size {}: {}", b, r.result.error));
  return r;
}

// The refinement scan (ProfileOptions::refine): the sizes to measure, the given ones and those
// added where the line between two neighbours does not hold; what it saw goes to `record`.
std::vector<std::size_t> refine_sizes(const ProfileOptions& o, RunSession& session, nlohmann::json& record) {
  std::vector<std::size_t> sizes = o.batch_sizes;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  if (!(o.refine > 0) || sizes.size() < 2) return sizes;
  // A quick median back to back: three probe batches warm the shape and time it, then at least
  // five batches and a quarter of a second.
  std::map<std::size_t, double> median;
  auto scan = [&](std::size_t b) {
    const double probe_s = back_to_back(o, session, b, 3).record.summary->duration_s / 3;
    const auto n = std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(0.25 / std::max(probe_s, 1e-9))), 5, 200);
    const RunOutcome r = back_to_back(o, session, b, n);
    std::vector<double> svc;
    for (const BatchRecord& br : r.result.batches) svc.push_back(ns_to_s(br.end_ns - br.start_ns));
    std::sort(svc.begin(), svc.end());
    median[b] = percentile_sorted(svc, 50);
  };
  for (std::size_t b : sizes) scan(b);
  std::deque<std::pair<std::size_t, std::size_t>> todo;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i)
    if (sizes[i + 1] - sizes[i] >= 2) todo.emplace_back(sizes[i], sizes[i + 1]);
  const std::size_t limit = o.refine_max ? o.refine_max : std::max<std::size_t>(8, sizes.size());
  std::vector<std::size_t> added;
  nlohmann::json seen = nlohmann::json::array();
  while (!todo.empty() && added.size() < limit) {
    const auto [a, b] = todo.front();
    todo.pop_front();
    const std::size_t m = a + (b - a) / 2;
    scan(m);
    const double line_s = line_through(static_cast<double>(a), median[a], static_cast<double>(b), median[b], static_cast<double>(m));
    const double off = line_s > 0 ? (median[m] - line_s) / line_s : 0.0;
    const bool add = std::abs(off) > o.refine;
    seen.push_back({{"between", {a, b}}, {"batch_size", m}, {"median_s", median[m]}, {"line_s", line_s}, {"off", off},
                    {"added", add}});
    if (!add) continue;
    added.push_back(m);
    if (m - a >= 2) todo.emplace_back(a, m);
    if (b - m >= 2) todo.emplace_back(m, b);
  }
  record = {{"tolerance", o.refine},
            {"given", sizes},
            {"added", added},
            {"stopped_at_limit", !todo.empty()},
            {"medians_s", nlohmann::json::object()},
            {"midpoints", seen}};
  for (const auto& [b, v] : median) record["medians_s"][std::to_string(b)] = v;
  sizes.insert(sizes.end(), added.begin(), added.end());
  std::sort(sizes.begin(), sizes.end());
  return sizes;
}

// A sensor's figure over a window is only as good as the updates in it (NVML's counter moves
// about every 100 ms): each round's window must still hold ten.
void check_round_window(const ProfileOptions& o) {
  if (o.rounds == 0) throw UserError("--rounds: must be at least 1");
  const std::string meter = split_spec(o.spec.meter).first;
  const TimeNs per_round = o.min_window_ns / static_cast<TimeNs>(o.rounds);
  if (o.rounds > 1 && meter != "none" && meter != "modelled" && per_round < kNsPerS) {
    throw UserError(fmt::format("--rounds {}: splits --min-window {} into windows of {}; with the meter '{}' each needs at "
                                "least 1 s (ten sensor updates): lengthen --min-window or use fewer rounds",
                                o.rounds, format_duration_s(ns_to_s(o.min_window_ns)),
                                format_duration_s(ns_to_s(per_round)), o.spec.meter));
  }
}

// The options measure_profile cannot work with. Throws UserError.
void check_profile_options(const ProfileOptions& o) {
  if (o.batch_sizes.empty()) throw UserError("--batch-sizes: give at least one batch size");
  if (o.batch_sizes.size() > kMaxProfileSizes) {
    throw UserError(fmt::format("--batch-sizes: {} sizes; at most {}", o.batch_sizes.size(), kMaxProfileSizes));
  }
  for (std::size_t b : o.batch_sizes) {
    if (b == 0) throw UserError("--batch-sizes: sizes must be at least 1");
    if (b > kMaxPolicyBatch) {
      throw UserError(fmt::format("--batch-sizes: {} is above the largest batch size accepted, {}", b, kMaxPolicyBatch));
    }
  }
  if (o.rounds > kMaxProfileRounds) {
    throw UserError(fmt::format("--rounds: {} is above the most accepted, {}", o.rounds, kMaxProfileRounds));
  }
  if (o.idle_samples > kMaxIdleSamples) {
    throw UserError(fmt::format("--idle-samples: {} is above the most accepted, {}", o.idle_samples, kMaxIdleSamples));
  }
  if (o.refine_max > kMaxRefineAdded) {
    throw UserError(fmt::format("--refine-max: {} is above the most accepted, {}", o.refine_max, kMaxRefineAdded));
  }
  if (o.min_window_ns > kMaxProfileWindowNs) {
    throw UserError(fmt::format("--min-window: {} is longer than the longest accepted, 1 hour",
                                format_duration(o.min_window_ns)));
  }
  for (TimeNs g : o.idle_gaps_ns) {
    if (g > kMaxProfileWindowNs) {
      throw UserError(fmt::format("--idle-gaps: {} is longer than the longest accepted, 1 hour", format_duration(g)));
    }
  }
  check_round_window(o);
  if (!(o.refine >= 0 && o.refine < 10)) {
    throw UserError(fmt::format("--refine {}: the share by which a midpoint may miss the line (0.15: 15 %), from 0 (no "
                                "scan) to below 10",
                                o.refine));
  }
}

// Each round's share of every size's window and of its least number of batches.
struct RoundShare {
  TimeNs window_ns = 0;
  std::size_t min_batches = 0;
};
RoundShare round_share(const ProfileOptions& o) {
  return {o.min_window_ns / static_cast<TimeNs>(o.rounds), (o.min_batches + o.rounds - 1) / o.rounds};
}

// One round's batches back to back for one size, added to `m`: a probe of a few batches warms
// this shape and estimates the service time; then enough batches to fill the round's share of
// the window, with the run's meter (and idle power first, measured once: `idle`).
RunOutcome measure_back_to_back(const ProfileOptions& o, RunSession& session, const RoundShare& share,
                               std::optional<double>& idle, SizeMeasure& m) {
  const std::size_t b = m.batch;
  const double probe_s = back_to_back(o, session, b, 3).record.summary->duration_s / 3;
  const auto needed = static_cast<std::size_t>(std::ceil(ns_to_s(share.window_ns) / std::max(probe_s, 1e-9)));
  RunOutcome r = back_to_back(o, session, b, std::clamp<std::size_t>(needed, share.min_batches, 100000), o.spec.meter,
                              idle ? 0 : o.spec.idle_window_ns);  // idle power once, first
  if (!idle) idle = r.result.energy.idle_power_w;
  std::vector<double> this_round;
  for (const BatchRecord& br : r.result.batches) this_round.push_back(ns_to_s(br.end_ns - br.start_ns));
  m.service_s.insert(m.service_s.end(), this_round.begin(), this_round.end());
  std::sort(this_round.begin(), this_round.end());
  m.round_median_s.push_back(percentile_sorted(this_round, 50));
  if (this_round.size() >= 10) m.round_p90_s.push_back(percentile_sorted(this_round, 90));
  m.window_s += r.record.summary->duration_s;
  const Energy& e = r.result.energy;
  if (e.joules && m.joules) {
    *m.joules += *e.joules;
    m.energy_window_s += e.window_s;
  } else {
    m.joules.reset();
  }
  return r;
}

// The profile's model, device, meter and meta record, from its first measured run.
void set_profile_facts(const ProfileOptions& o, const RunRecord& r, const nlohmann::json& refine_record,
                       Profile& prof) {
  prof.model = r.model;
  prof.device = r.device;
  prof.meter = r.meter;
  prof.meta = {{"created_utc", utc_now_iso8601()}, {"host", hostname()},    {"tool_version", build::kVersion},
               {"git_rev", build::kGitRev},         {"backend", r.backend}, {"clock", r.clock},
               {"rounds", o.rounds},                {"min_window_s", ns_to_s(o.min_window_ns)},
               {"idle_order", o.steady_idle ? "steady" : "shuffled"}};
  if (!refine_record.is_null()) prof.meta["refine"] = refine_record;
  // Energy from the CPU-time estimate (no sensor): what is simulated from it is estimated too.
  if (r.energy && r.energy->estimated) prof.meta["energy_estimated"] = true;
}

// One round over the sizes: each size's share back to back, then its bursts after idleness.
void measure_round(const ProfileOptions& o, RunSession& session, Rng& rng, const RoundShare& share,
                   const nlohmann::json& refine_record, std::optional<double>& idle, std::vector<SizeMeasure>& ms,
                   Profile& prof) {
  for (SizeMeasure& m : ms) {
    const RunOutcome r = measure_back_to_back(o, session, share, idle, m);
    measure_after_idle(o, session, rng, m);
    if (prof.model.empty()) set_profile_facts(o, r.record, refine_record, prof);
  }
}

// One size's point of the profile from all its rounds. Sorts m's service times (stability_record
// reads them sorted) and after-idle service times.
ProfilePoint point_of(SizeMeasure& m, const std::optional<double>& idle, std::size_t idle_samples) {
  std::vector<double>& svc = m.service_s;
  std::sort(svc.begin(), svc.end());
  ProfilePoint pt;
  pt.quantiles_s = quantiles(svc);
  pt.batch_size = m.batch;
  pt.batches = svc.size();
  pt.service_median_s = percentile_sorted(svc, 50);
  pt.service_mean_s = mean(svc);
  pt.service_p10_s = percentile_sorted(svc, 10);
  pt.service_p90_s = percentile_sorted(svc, 90);
  pt.service_std_s = stddev(svc);
  pt.window_s = m.window_s;
  if (m.joules) {
    const auto batches = static_cast<double>(svc.size());
    pt.energy_per_batch_j = *m.joules / batches;
    // Busy energy above idle: the windows' energy minus idle power over them, per batch.
    if (idle) pt.dynamic_energy_per_batch_j = (*m.joules - *idle * m.energy_window_s) / batches;
  }
  for (std::size_t g = 0; g < m.after_s.size(); ++g) {
    if (m.after_s[g].size() < std::max<std::size_t>(5, idle_samples / 3)) continue;  // too few to trust
    std::sort(m.after_s[g].begin(), m.after_s[g].end());
    pt.after_idle.push_back({median_of(m.after_idle_s[g]), quantiles(m.after_s[g])});
  }
  std::sort(pt.after_idle.begin(), pt.after_idle.end(),
            [](const auto& x, const auto& y) { return x.idle_s < y.idle_s; });
  return pt;
}

}  // namespace

Profile measure_profile(const ProfileOptions& o) {
  check_profile_options(o);
  Profile prof;
  RunSession session;
  Rng rng(o.spec.seed);
  std::optional<double> idle;
  nlohmann::json refine_record;
  const std::vector<std::size_t> sizes = refine_sizes(o, session, refine_record);
  std::vector<SizeMeasure> ms(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) ms[i].batch = sizes[i];
  const RoundShare share = round_share(o);
  for (std::size_t round = 0; round < o.rounds; ++round) {
    measure_round(o, session, rng, share, refine_record, idle, ms, prof);
  }
  for (SizeMeasure& m : ms) prof.points.push_back(point_of(m, idle, o.idle_samples));
  // After point_of has sorted each size's service times.
  if (const nlohmann::json st = stability_record(ms, o.rounds); !st.is_null()) prof.meta["stability"] = st;
  prof.idle_power_w = idle;
  std::sort(prof.points.begin(), prof.points.end(), [](auto& a, auto& b) { return a.batch_size < b.batch_size; });
  return prof;
}

ProfileOptions profile_options(const RunSpec& spec, const ProfileArgs& a) {
  ProfileOptions o;
  o.spec = spec;
  o.spec.idle_window_ns = parse_duration_ns(a.idle_window, "--idle-window");
  o.min_window_ns = parse_duration_ns(a.min_window, "--min-window");
  o.idle_samples = a.idle_samples;
  o.rounds = a.rounds;
  o.steady_idle = a.idle_order == "steady";
  o.refine = a.refine;
  o.refine_max = a.refine_max;
  o.idle_gaps_ns.clear();
  for (const std::string& g : split_list(a.idle_gaps)) {
    const TimeNs ns = parse_duration_ns(g, "--idle-gaps");
    if (ns < kBackToBackIdleNs) {
      throw UserError(fmt::format("--idle-gaps '{}': each idle time must be at least {} (shorter counts as back to back)",
                                  a.idle_gaps, format_duration_s(ns_to_s(kBackToBackIdleNs))));
    }
    o.idle_gaps_ns.push_back(ns);
  }
  std::sort(o.idle_gaps_ns.begin(), o.idle_gaps_ns.end());
  o.batch_sizes.clear();
  for (const std::string& b : split_list(a.batch_sizes)) {
    const long long v = parse_integer(b, "--batch-sizes");
    if (v < 1) throw UserError("--batch-sizes: sizes must be at least 1");
    o.batch_sizes.push_back(static_cast<std::size_t>(v));
  }
  return o;
}

}  // namespace greenbatch
