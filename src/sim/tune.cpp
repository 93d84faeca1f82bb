#include "sim/tune.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "engine/execute.hpp"
#include "io/results.hpp"
#include "sim/replay.hpp"

namespace greenbatch {

std::vector<TimeNs> tune_delays(const LatencyTarget& target) {
  // Delays on a fine logarithmic grid from 0.5 ms up to the latency target.
  std::vector<TimeNs> delays;
  // (rounded to 0.1 ms, or to 1 ms above 10 ms, so that the specs read well).
  for (double d = 0.5e-3; d < target.limit_s(); d *= 1.25) {
    const TimeNs unit = d < 0.01 ? 100 * kNsPerUs : kNsPerMs;
    const TimeNs ns = std::llround(d * 1e9 / static_cast<double>(unit)) * unit;
    if (delays.empty() || delays.back() != ns) delays.push_back(ns);
  }
  return delays;
}

void check_tune_input(const TuneInput& in) {
  if (in.cap < 1 || in.cap > kMaxTuneCap) {
    throw UserError(fmt::format("--cap {}: the largest batch size searched must be from 1 to {} (at {} about {} "
                                "policies are simulated)",
                                in.cap, kMaxTuneCap, kMaxTuneCap,
                                tune_candidates(TuneSpace{kMaxTuneCap, tune_delays(in.target), in.target.text}).size()));
  }
  check_requests(in.requests, "--requests");
  const ArrivalSpec arrivals = parse_arrivals(in.arrivals);
  check_schedule(arrivals, in.rate_hz, schedule_count(arrivals, in.requests, in.requests_given));
  if (in.jobs > kMaxTuneJobs) {
    throw UserError(fmt::format("--jobs {}: at most {} policies at once", in.jobs, kMaxTuneJobs));
  }
}

namespace {

RunSpec simulated_spec(const TuneInput& in, const std::string& policy) {
  RunSpec s;
  s.rate_hz = in.rate_hz;
  s.arrivals = in.arrivals;
  s.policy = policy;
  s.requests = in.requests;
  s.requests_given = in.requests_given;
  s.seed = in.seed;
  return s;
}

}  // namespace

TuneResult tune(const Profile& p, const TuneInput& in, bool static_only) {
  check_tune_input(in);
  if (!p.idle_power_w) {
    throw UserError("tune: the profile has no idle power (it was measured without an energy meter, or with "
                    "--idle-window 0s), so no policy's energy can be predicted; profile again with an energy meter "
                    "and an idle window");
  }
  if (!p.dynamic_power_w(1)) throw UserError("tune: the profile has no energy figures; profile with an energy meter");
  const LatencyTarget& slo = in.target;
  // Every registered kind's candidates (fixed:1..cap, greedy:1..cap, timeout:2..cap x delays).
  const std::vector<std::string> policies =
      tune_candidates(TuneSpace{in.cap, tune_delays(slo), static_only ? std::string() : slo.text});
  const auto t0 = std::chrono::steady_clock::now();
  // Each policy's simulation is independent (its own clock, backend, meter and generator; the
  // profile is only read): threads take the next policy in turn, and the results are gathered
  // in the policies' order, so any number of jobs gives the same result.
  std::vector<std::optional<TuneCandidate>> found(policies.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < policies.size(); i = next++) {
      try {
        const RunRecord rec = simulate_run(p, simulated_spec(in, policies[i]), in.slowdown).record;
        const double lat = latency_figure(rec.summary->latency_s, slo.figure);
        if (lat <= slo.limit_s() && rec.energy->per_image_j) {
          found[i] = TuneCandidate{rec.policy, *rec.energy->per_image_j, lat, rec.summary->latency_s.p99,
                                   rec.summary->latency_s.max, rec.summary->avg_batch_size};
        }
      } catch (...) {
        const std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = policies.size();  // the others stop at their next policy
      }
    }
  };
  const unsigned jobs = static_cast<unsigned>(
      std::min<std::size_t>(in.jobs ? in.jobs : std::max(1u, std::thread::hardware_concurrency()), policies.size()));
  {
    std::vector<std::jthread> threads;
    for (unsigned j = 1; j < jobs; ++j) threads.emplace_back(work);
    work();
  }
  if (failure) std::rethrow_exception(failure);
  TuneResult r;
  for (auto& f : found)
    if (f) r.meeting.push_back(std::move(*f));
  r.simulated = policies.size();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.jobs = jobs;
  std::stable_sort(r.meeting.begin(), r.meeting.end(),
                   [](const TuneCandidate& a, const TuneCandidate& b) { return a.energy_per_image_j < b.energy_per_image_j; });
  return r;
}

namespace {

// A load's gaps as an arrival process of its own: "poisson", "constant", "jitter:F".
std::string gaps_text(const ArrivalSpec& a) {
  switch (a.gaps) {
    case ArrivalSpec::Kind::kConstant: return "constant";
    case ArrivalSpec::Kind::kJitter: return fmt::format("jitter:{}", format_bound(a.jitter));
    default: return "poisson";
  }
}

}  // namespace

OracleResult oracle(const Profile& p, const TuneInput& in) {
  check_tune_input(in);
  const ArrivalSpec a = parse_arrivals(in.arrivals);
  if (!a.varies()) {
    throw UserError(fmt::format("--oracle: the arrivals '{}' do not change with time; the oracle switches between "
                                "the segments of a steps: or diurnal: load (a steady load's best is tune's first)",
                                in.arrivals));
  }
  for (const Slowdown::Stretch& s : in.slowdown.stretches) {
    if (s.end_ns) {
      throw UserError(fmt::format("--oracle with --slowdown '{}': the oracle tunes each segment on its own, so it takes a "
                                  "slowdown of the whole run (xF), not stretches",
                                  in.slowdown.text));
    }
  }
  // The segments of as many cycles as the run's requests take.
  const double count = static_cast<double>(schedule_count(a, in.requests, in.requests_given));
  const TimeNs cycle = a.cycle_ns();
  const auto cycles = static_cast<std::size_t>(std::max(1.0, std::ceil(count / a.cycle_arrivals() - 1e-9)));
  std::vector<std::pair<TimeNs, double>> pieces;  // (length, rate) of one cycle
  if (a.kind == ArrivalSpec::Kind::kSteps) {
    for (const auto& st : a.steps) pieces.emplace_back(st.duration_ns, st.rate_hz);
  } else {
    for (TimeNs t = 0; t < cycle; t += kOraclePieceNs) {
      const TimeNs len = std::min(kOraclePieceNs, cycle - t);
      double sum = 0;
      constexpr int kSamples = 100;
      for (int i = 0; i < kSamples; ++i) sum += a.rate_at(t + len * (2 * i + 1) / (2 * kSamples));
      pieces.emplace_back(len, sum / kSamples);
    }
  }
  OracleResult r;
  std::vector<std::pair<TimeNs, std::string>> parts;
  TimeNs from = 0;
  for (std::size_t c = 0; c < cycles; ++c) {
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      OracleSegment seg{from, pieces[i].first, pieces[i].second, std::nullopt};
      if (c == 0) {
        TuneInput t = in;
        t.rate_hz = seg.rate_hz;
        t.arrivals = gaps_text(a);
        t.requests = static_cast<std::size_t>(std::max(64.0, std::round(seg.rate_hz * ns_to_s(seg.length_ns))));
        t.requests_given = true;
        TuneResult found = tune(p, t, /*static_only=*/true);
        if (!found.meeting.empty()) seg.best = found.meeting.front();
      } else {
        seg.best = r.segments[i].best;  // the same segment a cycle later
      }
      const std::string policy = seg.best ? seg.best->policy : fmt::format("greedy:{}", in.cap);
      if (parts.empty() || parts.back().second != policy) parts.emplace_back(from, policy);
      r.segments.push_back(seg);
      from += seg.length_ns;
    }
  }
  r.policy = "switch:";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    r.policy += fmt::format("{}{}@{}", i ? "+" : "", parts[i].second, duration_spec(parts[i].first));
  }
  r.record = simulate_run(p, simulated_spec(in, r.policy), in.slowdown).record;
  return r;
}

std::vector<Verified> verify(const Profile& p, const TuneInput& in, const std::vector<TuneCandidate>& candidates,
                             std::size_t n, const std::string& out, const std::function<void(const Verified&)>& on_each,
                             int repetitions) {
  std::vector<Verified> done;
  for (int rep = 0; rep < std::max(repetitions, 1); ++rep) {
  for (std::size_t i = 0; i < std::min(n, candidates.size()); ++i) {
    RunSpec s = simulated_spec(in, candidates[i].policy);
    s.seed = in.seed + static_cast<std::uint64_t>(rep);  // repetition r: seed + r, as a sweep's
    s.model = p.model;
    s.device = p.device == "synthetic" ? "cpu" : p.device;
    s.meter = p.meter;
    s.idle_window_ns = 0;
    // As the profile ran the model: its CPU threads, preprocessing and host memory.
    const nlohmann::json be = p.meta.value("backend", nlohmann::json::object());
    if (be.contains("threads") && be["threads"].is_number_integer()) s.threads = be["threads"].get<int>();
    if (be.contains("preprocess") && be["preprocess"].is_string()) {
      s.preprocess = parse_choice<Preprocess>(be["preprocess"].get<std::string>(), "the profile's backend.preprocess");
    }
    if (be.contains("host_memory") && be["host_memory"].is_string()) {
      s.host_memory = parse_choice<HostMemory>(be["host_memory"].get<std::string>(), "the profile's backend.host_memory");
    }
    PreparedRun run(s);
    RunRecord rec = run.execute().record;
    rec.repetition = rep;
    append_line_durable(out + "/runs.jsonl", rec.to_json().dump());
    const double lat = latency_figure(rec.summary->latency_s, in.target.figure);
    done.push_back({candidates[i], std::move(rec), lat});
    if (on_each) on_each(done.back());
  }
  }
  return done;
}

}  // namespace greenbatch
