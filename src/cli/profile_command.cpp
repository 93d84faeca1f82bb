// greenbatch profile | simulate | tune: measure a model once per batch size, then predict any
// rate, arrival process and policy on the virtual clock, and search for the best policy.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <exception>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/error.hpp"
#include "core/latency_target.hpp"
#include "core/units.hpp"
#include "sim/profile.hpp"
#include "io/experiment.hpp"
#include "io/results.hpp"

namespace greenbatch::cli {

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Past this share between a profile's rounds (meta.stability), the machine changed speed while
// it was profiled: profile warns, and simulate and tune say so of the profiles they read.
constexpr double kStabilityWarnShare = 0.10;

// The largest spread between rounds, median or p90, and the batch size it was seen at (none
// where the record has neither, as a profile edited by hand may not).
std::optional<std::pair<double, std::size_t>> worst_spread(const nlohmann::json& st) {
  std::optional<std::pair<double, std::size_t>> w;
  if (!st.is_object()) return w;
  for (const std::string name : {"median", "p90"}) {
    const auto v = st.find(name + "_spread"), at = st.find(name + "_spread_batch_size");
    if (v == st.end() || at == st.end() || !v->is_number() || !at->is_number_unsigned()) continue;
    if (!w || v->get<double>() > w->first) w = {v->get<double>(), at->get<std::size_t>()};
  }
  return w;
}

Profile load_profile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("--profile {}: cannot read the file", path));
  Profile p;
  try {
    p = Profile::from_json(nlohmann::json::parse(in), path);
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError(fmt::format("--profile {}: not JSON ({})", path, e.what()));
  }
  if (p.meta.contains("stability")) {
    if (const auto w = worst_spread(p.meta["stability"]); w && w->first > kStabilityWarnShare) {
      fmt::print("note: profile {} saw the machine's speed change by up to {:.1f} % between its rounds (batch {}); its "
                 "predictions carry that uncertainty, tail latencies (p99) most\n",
                 path, w->first * 100, w->second);
    }
  }
  return p;
}

// ---- profile ----
struct ProfileCli {
  RunSpec spec;
  std::string batch_sizes = "1,2,4,8,16,32,64,128";
  std::string min_window = "1s";
  std::string idle_window = "5s";
  std::string idle_gaps = "5ms,20ms,60ms,200ms";
  std::size_t idle_samples = 30;
  std::size_t rounds = 1;
  std::string idle_order = "steady";
  std::string out = "profile.json";
  double refine = 0.15;
  std::size_t refine_max = 0;
};

// How far the sizes' medians and p90s moved between the rounds, and a warning past 10 %: the
// machine changed speed while it was profiled, and the predictions carry that uncertainty.
void print_stability(const nlohmann::json& st, std::size_t rounds) {
  auto part = [&](const char* name) -> std::string {
    const nlohmann::json& v = st[std::string(name) + "_spread"];
    if (v.is_null()) return "";
    return fmt::format("its {} by up to {:.1f} % (batch {})", name, v.get<double>() * 100,
                       st[std::string(name) + "_spread_batch_size"].get<std::size_t>());
  };
  const std::string med = part("median"), p90 = part("p90");
  if (med.empty()) return;
  fmt::print("stability: between the {} rounds, each size's back-to-back service moved: {}{}\n", rounds, med,
             p90.empty() ? "" : ", " + p90);
  if (const auto w = worst_spread(st); w && w->first > kStabilityWarnShare) {
    fmt::print("warning: the machine's speed changed by over {:.0f} % while it was profiled; predictions carry that "
               "uncertainty, tail latencies (p99) most. Profile again when the machine is quiet, or interleave "
               "profiles with the runs as scripts/validate.sh does\n",
               kStabilityWarnShare * 100);
  }
}

int do_profile(const ProfileCli& c) {
  ProfileOptions o;
  o.spec = c.spec;
  o.spec.idle_window_ns = parse_duration_ns(c.idle_window, "--idle-window");
  o.min_window_ns = parse_duration_ns(c.min_window, "--min-window");
  o.idle_samples = c.idle_samples;
  o.rounds = c.rounds;
  o.steady_idle = c.idle_order == "steady";
  o.refine = c.refine;
  o.refine_max = c.refine_max;
  o.idle_gaps_ns.clear();
  for (const std::string& g : split_list(c.idle_gaps)) {
    const TimeNs ns = parse_duration_ns(g, "--idle-gaps");
    if (ns < kBackToBackIdleNs) {
      throw UserError(fmt::format("--idle-gaps '{}': each idle time must be at least {} (shorter counts as back to back)",
                                  c.idle_gaps, format_duration_s(ns_to_s(kBackToBackIdleNs))));
    }
    o.idle_gaps_ns.push_back(ns);
  }
  std::sort(o.idle_gaps_ns.begin(), o.idle_gaps_ns.end());
  o.batch_sizes.clear();
  for (const std::string& b : split_list(c.batch_sizes)) {
    const long long v = parse_integer(b, "--batch-sizes");
    if (v < 1) throw UserError("--batch-sizes: sizes must be at least 1");
    o.batch_sizes.push_back(static_cast<std::size_t>(v));
  }
  const Profile p = measure_profile(o);
  append_line_durable(c.out + ".tmp", p.to_json().dump(2));
  std::filesystem::rename(c.out + ".tmp", c.out);
  fmt::print("profile of {} on {} ({}), idle {}\n", p.model, p.device, p.meter,
             p.idle_power_w ? fmt::format("{:.4g} W", *p.idle_power_w) : "not measured");
  fmt::print("{:>6} {:>8} {:>14} {:>14} {:>16}\n", "batch", "batches", "service med", "p10..p90", "energy J/image");
  for (const auto& pt : p.points) {
    fmt::print("{:>6} {:>8} {:>14} {:>14} {:>16}\n", pt.batch_size, pt.batches,
               format_duration_s(pt.service_median_s),
               fmt::format("{:.3g}..{:.3g} ms", pt.service_p10_s * 1e3, pt.service_p90_s * 1e3),
               pt.energy_per_batch_j ? fmt::format("{:.4g}", *pt.energy_per_batch_j / pt.batch_size) : "n/a");
  }
  if (p.meta.contains("refine")) {
    const nlohmann::json& r = p.meta["refine"];
    std::vector<std::string> why;
    for (const auto& m : r["midpoints"]) {
      if (!m["added"].get<bool>()) continue;
      why.push_back(fmt::format("{} took {} where the line from {} to {} gives {} ({:+.0f} %)", m["batch_size"].get<std::size_t>(),
                                format_duration_s(m["median_s"].get<double>()), m["between"][0].get<std::size_t>(),
                                m["between"][1].get<std::size_t>(), format_duration_s(m["line_s"].get<double>()),
                                m["off"].get<double>() * 100));
    }
    if (why.empty()) {
      fmt::print("refine: the service time between the sizes given is a line within {:g} % ({} midpoints scanned)\n",
                 r["tolerance"].get<double>() * 100, r["midpoints"].size());
    } else {
      fmt::print("refine: measured {} more size(s) where the line between neighbours missed by over {:g} %: {}\n",
                 why.size(), r["tolerance"].get<double>() * 100, fmt::join(why, "; "));
    }
    if (r["stopped_at_limit"].get<bool>()) {
      fmt::print("refine: stopped at {} added sizes (--refine-max); the lines between some sizes were not checked\n",
                 why.size());
    }
  }
  if (p.meta.contains("stability")) print_stability(p.meta["stability"], p.meta["rounds"].get<std::size_t>());
  fmt::print("wrote {}\n", c.out);
  return 0;
}

// ---- simulate ----
struct SimulateCli {
  std::string profile, rates = "64", policies = "greedy:128", arrivals = "constant", out = "results/simulated", sweep, requests_out;
  std::size_t requests = 8192;
  std::uint64_t seed = 1;
  double idle_smoothing = 0.5;
};

void write_simulated(RunRecord& rec, const std::string& profile_path, const std::string& out, int repetition,
                     const std::string& sweep) {
  rec.profile = profile_path;
  rec.repetition = repetition;
  rec.sweep = sweep;
  append_line_durable(out + "/runs.jsonl", rec.to_json().dump());
  append_csv(out + "/runs.csv", CsvStyle::kGreenbatch, rec);
}

int do_simulate(const SimulateCli& c) {
  std::vector<std::pair<std::string, Profile>> profiles;
  if (!(c.idle_smoothing >= 0 && c.idle_smoothing <= 1)) {
    throw UserError(fmt::format("--idle-smoothing {}: the share of draws from neighbouring idle times, from 0 to 1",
                                c.idle_smoothing));
  }
  for (const std::string& path : split_list(c.profile)) {
    profiles.emplace_back(path, load_profile(path));
    profiles.back().second.idle_smoothing = c.idle_smoothing;
  }
  std::vector<std::pair<RunSpec, int>> specs;
  std::string sweep_name;
  if (!c.sweep.empty()) {
    const Experiment e = load_experiment(c.sweep, {}, /*check_models=*/false);
    sweep_name = e.name;
    // The file's models are replaced by the profiles' (one profile per model).
    Experiment one = e;
    one.models = {one.models.front()};
    for (const PlannedRun& r : plan_runs(one)) specs.emplace_back(r.spec, r.repetition);
  } else {
    for (const std::string& rate : split_list(c.rates)) {
      for (const std::string& policy : split_list(c.policies)) {
        RunSpec s;
        s.rate_hz = parse_double(rate, "--rate");
        if (!(s.rate_hz > 0)) throw UserError(fmt::format("--rate {}: must be above 0", rate));
        s.policy = policy;
        s.arrivals = c.arrivals;
        s.requests = c.requests;
        s.requests_given = true;
        s.seed = c.seed;
        parse_policy(policy);  // every spec is checked before anything runs
        specs.emplace_back(s, 0);
      }
    }
    parse_arrivals(c.arrivals);
  }
  if (!c.requests_out.empty() && profiles.size() * specs.size() != 1) {
    throw UserError(fmt::format("--requests-out: takes one simulated run, and these options give {}; name one profile, "
                                "one rate and one policy",
                                profiles.size() * specs.size()));
  }
  check_csv_compatible(c.out + "/runs.csv", CsvStyle::kGreenbatch);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t requests = 0;
  std::size_t runs = 0;
  for (const auto& [path, p] : profiles)
  for (const auto& [s, rep] : specs) {
    RunOutcome sim = simulate_run(p, s);
    RunRecord& rec = sim.record;
    requests += rec.summary->completed;
    ++runs;
    write_simulated(rec, path, c.out, rep, sweep_name);
    if (!c.requests_out.empty()) write_requests_csv(c.requests_out, sim.result);
    const Energy& e = *rec.energy;
    fmt::print("{:<24} {:>6g}/s {:<18} p99 {:>10}  max {:>10}  avg batch {:>6.2f}  {}\n", rec.model, s.rate_hz, rec.policy,
               format_duration_s(rec.summary->latency_s.p99),
               format_duration_s(rec.summary->latency_s.max), rec.summary->avg_batch_size,
               e.per_image_j ? fmt::format("{:.4g} J/image", *e.per_image_j) : "energy n/a");
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "simulated {} run(s), {} requests, in {:.3f} s; appended to {}/runs.jsonl\n", runs, requests, s,
             c.out);
  return 0;
}

// ---- tune ----
struct TuneCli {
  std::string profile, arrivals = "constant", slo = "p99=200ms", out = "results/tune";
  double rate = 64;
  std::size_t requests = 2048, cap = 128, top = 5;
  std::uint64_t seed = 1;
  bool verify = false;
  unsigned jobs = 0;  // 0: one per hardware thread
};

struct Candidate {
  std::string policy;
  double energy = 0, latency = 0, p99 = 0, max = 0, avg_batch = 0;
};

int do_tune(const TuneCli& c) {
  const Profile p = load_profile(c.profile);
  const LatencyTarget slo = parse_latency_target(c.slo, "--slo");
  parse_arrivals(c.arrivals);
  if (!p.dynamic_power_w(1)) throw UserError("tune: the profile has no energy figures; profile with an energy meter");
  // Delays on a fine logarithmic grid from 0.5 ms up to the latency target.
  std::vector<TimeNs> delays;
  // (rounded to 0.1 ms, or to 1 ms above 10 ms, so that the specs read well).
  for (double d = 0.5e-3; d < slo.limit_s(); d *= 1.25) {
    const TimeNs unit = d < 0.01 ? 100 * kNsPerUs : kNsPerMs;
    const TimeNs ns = std::llround(d * 1e9 / static_cast<double>(unit)) * unit;
    if (delays.empty() || delays.back() != ns) delays.push_back(ns);
  }
  // Every registered kind's candidates (fixed:1..cap, greedy:1..cap, timeout:2..cap x delays).
  const std::vector<std::string> policies = tune_candidates(TuneSpace{c.cap, delays});
  const auto t0 = std::chrono::steady_clock::now();
  // Each policy's simulation is independent (its own clock, backend, meter and generator; the
  // profile is only read): threads take the next policy in turn, and the results are gathered
  // in the policies' order, so any number of jobs prints the same table.
  std::vector<std::optional<Candidate>> found(policies.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < policies.size(); i = next++) {
      try {
        RunSpec s;
        s.rate_hz = c.rate;
        s.arrivals = c.arrivals;
        s.policy = policies[i];
        s.requests = c.requests;
        s.requests_given = true;
        s.seed = c.seed;
        const RunRecord rec = simulate_run(p, s).record;
        const double lat = latency_figure(rec.summary->latency_s, slo.figure);
        if (lat <= slo.limit_s() && rec.energy->per_image_j) {
          found[i] = Candidate{rec.policy, *rec.energy->per_image_j, lat, rec.summary->latency_s.p99,
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
      std::min<std::size_t>(c.jobs ? c.jobs : std::max(1u, std::thread::hardware_concurrency()), policies.size()));
  {
    std::vector<std::jthread> threads;
    for (unsigned j = 1; j < jobs; ++j) threads.emplace_back(work);
    work();
  }
  if (failure) std::rethrow_exception(failure);
  std::vector<Candidate> ok;
  for (auto& f : found)
    if (f) ok.push_back(std::move(*f));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("tune: {} policies simulated in {:.2f} s ({} job(s); {} at {:g}/s, {} requests each); {} meet {} <= {}\n",
             policies.size(), secs, jobs, c.arrivals, c.rate, c.requests, ok.size(), latency_key(slo.figure),
             format_duration_s(slo.limit_s()));
  if (ok.empty()) {
    fmt::print("no policy meets the target at this rate: the model is too slow for it, or the target too tight\n");
    return 1;
  }
  std::stable_sort(ok.begin(), ok.end(), [](const Candidate& a, const Candidate& b) { return a.energy < b.energy; });
  fmt::print("{:<20} {:>16} {:>12} {:>12} {:>10}\n", "policy", "energy J/image", "p99", "max", "avg batch");
  for (std::size_t i = 0; i < std::min(c.top, ok.size()); ++i) {
    const Candidate& k = ok[i];
    fmt::print("{:<20} {:>16.5g} {:>12} {:>12} {:>10.2f}\n", k.policy, k.energy,
               format_duration_s(k.p99), format_duration_s(k.max),
               k.avg_batch);
  }
  if (!c.verify) return 0;
  fmt::print("verifying the best {} for real ({} on {}):\n", std::min<std::size_t>(3, ok.size()), p.model, p.device);
  for (std::size_t i = 0; i < std::min<std::size_t>(3, ok.size()); ++i) {
    RunSpec s;
    s.model = p.model;
    s.device = p.device == "synthetic" ? "cpu" : p.device;
    s.meter = p.meter;
    s.rate_hz = c.rate;
    s.arrivals = c.arrivals;
    s.policy = ok[i].policy;
    s.requests = c.requests;
    s.requests_given = true;
    s.seed = c.seed;
    s.idle_window_ns = 0;
    // As the profile ran the model: its CPU threads, preprocessing and host memory.
    const nlohmann::json be = p.meta.value("backend", nlohmann::json::object());
    if (be.contains("threads") && be["threads"].is_number_integer()) s.threads = be["threads"].get<int>();
    if (be.contains("preprocess") && be["preprocess"].is_string()) s.preprocess = be["preprocess"].get<std::string>();
    if (be.contains("host_memory") && be["host_memory"].is_string()) s.host_memory = be["host_memory"].get<std::string>();
    PreparedRun run(s);
    const RunRecord rec = run.execute().record;
    append_line_durable(c.out + "/runs.jsonl", rec.to_json().dump());
    const Energy& e = *rec.energy;
    fmt::print("  {:<20} predicted {:.5g} J/image, {} {}; measured {} J/image, {} {}\n", ok[i].policy, ok[i].energy,
               latency_key(slo.figure), format_duration_s(ok[i].latency),
               e.per_image_j ? fmt::format("{:.5g}", *e.per_image_j) : "n/a", latency_key(slo.figure),
               format_duration_s(latency_figure(rec.summary->latency_s, slo.figure)));
  }
  return 0;
}

}  // namespace

void add_profile_commands(CLI::App& app, Action& action) {
  auto pc = std::make_shared<ProfileCli>();
  CLI::App* prof = app.add_subcommand("profile", "Measure service time and energy per batch size (for simulate and tune)");
  prof->add_option("--model", pc->spec.model, "Model (as for run)")->required();
  prof->add_option("--device", pc->spec.device, "cpu, cuda, cuda:N")->capture_default_str();
  prof->add_option("--meter", pc->spec.meter, "Energy meter (as for run)")->capture_default_str();
  prof->add_option("--refine", pc->refine,
                   "Scan first: where a midpoint's service misses the line between two sizes by over this share, "
                   "measure it too (0: sizes exactly as given)")
      ->capture_default_str();
  prof->add_option("--refine-max", pc->refine_max, "At most this many sizes added by --refine (0: as many as given, at least 8)")
      ->capture_default_str();
  prof->add_option("--clock", pc->spec.clock, "real, or virtual (synthetic models: instant and exact)")
      ->capture_default_str()
      ->check(CLI::IsMember({"real", "virtual"}));
  prof->add_option("--batch-sizes", pc->batch_sizes, "Comma-separated batch sizes")->capture_default_str();
  prof->add_option("--min-window", pc->min_window, "Measure each batch size at least this long")->capture_default_str();
  prof->add_option("--idle-window", pc->idle_window, "Idle power measured first over this window")->capture_default_str();
  prof->add_option("--idle-gaps", pc->idle_gaps,
                   "Idle times before the spaced batches that measure service after idleness (empty: none)")
      ->capture_default_str();
  prof->add_option("--idle-samples", pc->idle_samples, "Spaced batches per idle time, at least")->capture_default_str();
  prof->add_option("--rounds", pc->rounds,
                   "Measure in this many rounds over all sizes, each a share of every size's window and bursts "
                   "(a machine that drifts then weighs on every size alike)")
      ->capture_default_str();
  prof->add_option("--idle-order", pc->idle_order,
                   "steady: each idle time in one stretch per round, as a run sees it; shuffled: every burst's idle "
                   "time at random")
      ->capture_default_str()
      ->check(CLI::IsMember({"steady", "shuffled"}));
  prof->add_option("--threads", pc->spec.threads, "CPU threads (0: all)")->capture_default_str();
  prof->add_option("--preprocess", pc->spec.preprocess, "cached or per-request")->capture_default_str();
  prof->add_option("--host-memory", pc->spec.host_memory, "cached or system (as for run)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cached", "system"}));
  prof->add_option("--models-dir", pc->spec.models_dir, "Where --model NAME is looked up")->capture_default_str();
  prof->add_option("--images", pc->spec.images_dir, "JPEG images folder")->capture_default_str();
  prof->add_option("--warmup-batches", pc->spec.warmup_batches, "Warm-up batches")->capture_default_str();
  prof->add_option("--warmup-batch-size", pc->spec.warmup_batch_size, "Warm-up batch size")->capture_default_str();
  prof->add_option("--out", pc->out, "Profile file to write")->capture_default_str();
  prof->callback([&action, pc] { action = [pc] { return do_profile(*pc); }; });

  auto sc = std::make_shared<SimulateCli>();
  CLI::App* sim = app.add_subcommand("simulate", "Predict runs from a profile on the virtual clock (same outputs as run)");
  sim->add_option("--profile", sc->profile, "Profile(s) from greenbatch profile, comma-separated (one per model)")->required();
  sim->add_option("--rate", sc->rates, "Rate(s), comma-separated: 16,32,64,128")->capture_default_str();
  sim->add_option("--policy", sc->policies, "Policy(ies), comma-separated")->capture_default_str();
  sim->add_option("--arrivals", sc->arrivals, "Arrival process (as for run)")->capture_default_str();
  sim->add_option("--requests", sc->requests, "Requests per run")->capture_default_str();
  sim->add_option("--seed", sc->seed, "Seed")->capture_default_str();
  sim->add_option("--sweep", sc->sweep, "Simulate the grid of an experiment file instead (its models are replaced by the profile's)");
  sim->add_option("--idle-smoothing", sc->idle_smoothing,
                  "Share of the after-idle draws taken from the neighbouring measured idle times (0 to 1)")
      ->capture_default_str();
  sim->add_option("--out", sc->out, "Results folder")->capture_default_str();
  sim->add_option("--requests-out", sc->requests_out,
                  "Also write the per-request records of the (one) simulated run to this CSV, as run does");
  sim->callback([&action, sc] { action = [sc] { return do_simulate(*sc); }; });

  auto tc = std::make_shared<TuneCli>();
  CLI::App* tune = app.add_subcommand("tune", "Search fixed, greedy and timeout policies for the least energy under a latency target");
  tune->add_option("--profile", tc->profile, "Profile from greenbatch profile")->required();
  tune->add_option("--rate", tc->rate, "Request rate")->capture_default_str();
  tune->add_option("--arrivals", tc->arrivals, "Arrival process")->capture_default_str();
  tune->add_option("--slo", tc->slo, "Latency target: p50|p90|p95|p99|max|mean=DURATION")->capture_default_str();
  tune->add_option("--requests", tc->requests, "Requests per simulated run")->capture_default_str();
  tune->add_option("--cap", tc->cap, "Largest batch size searched")->capture_default_str();
  tune->add_option("--top", tc->top, "How many of the best to print")->capture_default_str();
  tune->add_option("--seed", tc->seed, "Seed")->capture_default_str();
  tune->add_option("--jobs", tc->jobs, "Policies simulated at once (0: one per hardware thread)")->capture_default_str();
  tune->add_flag("--verify", tc->verify, "Run the best three for real and compare");
  tune->add_option("--out", tc->out, "Where --verify appends its runs")->capture_default_str();
  tune->callback([&action, tc] { action = [tc] { return do_tune(*tc); }; });
}

}  // namespace greenbatch::cli
