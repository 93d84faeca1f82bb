// greenbatch profile | simulate | tune: measure a model once per batch size, then predict any
// rate, arrival process and policy on the virtual clock, and search for the best policy.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "core/latency_target.hpp"
#include "core/units.hpp"
#include "io/results.hpp"
#include "report/recommend.hpp"
#include "report/runs.hpp"
#include "sim/measure.hpp"
#include "sim/profile.hpp"
#include "sim/simulate.hpp"
#include "sim/tune.hpp"

namespace greenbatch::cli {

namespace {

// What simulate and tune say of a profile whose machine changed speed while it was profiled.
void print_load_note(const LoadedProfile& lp) {
  if (!lp.unstable) return;
  fmt::print("note: profile {} saw the machine's speed change by up to {:.1f} % between its rounds (batch {}); its "
             "predictions carry that uncertainty, tail latencies (p99) most\n",
             lp.path, lp.unstable->share * 100, lp.unstable->batch_size);
}

// ---- profile ----
struct ProfileCli {
  RunSpec spec;
  ProfileArgs args;
  std::string out = "profile.json";
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
  if (const auto w = worst_spread(st); w && w->share > kStabilityWarnShare) {
    fmt::print("warning: the machine's speed changed by over {:.0f} % while it was profiled; predictions carry that "
               "uncertainty, tail latencies (p99) most. Profile again when the machine is quiet, or interleave "
               "profiles with the runs as scripts/validate.sh does\n",
               kStabilityWarnShare * 100);
  }
}

int do_profile(const ProfileCli& c) {
  check_writable_file(c.out, "--out");
  const TempFile tmp(c.out + ".tmp");  // write_profile's temporary file, removed on every exit path
  const Profile p = measure_profile(profile_options(c.spec, c.args));
  write_profile(c.out, p);
  fmt::print("profile of {} on {} ({}), idle {}\n", p.model, p.device, p.meter,
             p.idle_power_w ? fmt::format("{:.4g} W", *p.idle_power_w) : "not measured");
  const bool estimated = p.energy_estimated();
  if (estimated) {
    fmt::print("* energy ESTIMATED: from this process's CPU time (no sensor), not measured; so is everything simulated "
               "or tuned from this profile\n");
  }
  fmt::print("{:>6} {:>8} {:>14} {:>14} {:>16}\n", "batch", "batches", "service med", "p10..p90",
             estimated ? "energy J/image*" : "energy J/image");
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
  std::string profile, rates = "64", policies = "greedy:128", arrivals = "constant", out = "results/simulated", sweep, requests_out,
      slowdown;
  std::size_t requests = 8192;
  bool requests_given = false;
  std::uint64_t seed = 1;
  double idle_smoothing = 0.5;
};

int do_simulate(const SimulateCli& c) {
  check_idle_smoothing(c.idle_smoothing);
  SimulateInput in;
  if (!c.slowdown.empty()) in.slowdown = parse_slowdown(c.slowdown);
  for (const std::string& path : split_list(c.profile)) {
    in.profiles.push_back(load_profile(path));
    print_load_note(in.profiles.back());
    in.profiles.back().profile.idle_smoothing = c.idle_smoothing;
  }
  in.plan = c.sweep.empty() ? plan_simulations(c.rates, c.policies, c.arrivals, c.requests, c.seed, c.requests_given)
                            : plan_simulations(c.sweep);
  in.out = c.out;
  in.requests_out = c.requests_out;
  const SimulateResult r = simulate(in, [](const SimulatedRun& run) {
    const RunRecord& rec = run.record;
    const Energy& e = *rec.energy;
    fmt::print("{:<24} {:>6g}/s {:<18} p99 {:>10}  max {:>10}  avg batch {:>6.2f}  {}\n", rec.model, rec.rate_hz,
               rec.policy, format_duration_s(rec.summary->latency_s.p99), format_duration_s(rec.summary->latency_s.max),
               rec.summary->avg_batch_size, e.per_image_j ? fmt::format("{:.4g} J/image", *e.per_image_j) : "energy n/a");
  });
  fmt::print(stderr, "simulated {} run(s), {} requests, in {:.3f} s; appended to {}/runs.jsonl\n", r.runs.size(),
             r.requests, r.seconds, c.out);
  if (!in.slowdown.empty()) {
    fmt::print(stderr, "on a machine slower than the profile: --slowdown {} (recorded as backend.slowdown)\n", c.slowdown);
  }
  return 0;
}

// ---- tune ----
struct TuneCli {
  std::string profile, arrivals = "constant", slo = "p99=200ms", out = "results/tune", slowdown;
  double rate = 64;
  std::size_t requests = 2048, cap = 128, top = 5;
  bool requests_given = false;
  std::uint64_t seed = 1;
  bool verify = false, oracle = false;
  int verify_repetitions = 3;  // runs of each verified policy: enough for Welch's t between them
  unsigned jobs = 0;  // 0: one per hardware thread
  double min_agreement_pct = 100;
};

// A profile's knobs and their agreement with fp32, from its backend facts (a profile measured
// before knobs existed: the defaults).
Knobs profile_knobs(const Profile& p, std::optional<double>* top1) {
  const nlohmann::json& m = p.meta;
  if (!m.is_object() || !m.contains("backend") || !m["backend"].is_object()) return {};
  const nlohmann::json& b = m["backend"];
  if (top1 && b.contains("agreement") && b["agreement"].is_object() && b["agreement"].contains("top1_agreement") &&
      b["agreement"]["top1_agreement"].is_number()) {
    *top1 = b["agreement"]["top1_agreement"].get<double>();
  }
  return Knobs::from_backend(b);
}

// tune over several profiles of one model, each measured with other knobs: every policy under
// every knob set, least energy first, among the knob sets that keep at least --min-agreement of
// the shipped images' fp32 top-1 class; then each knob set's best against the defaults' best.
int do_tune_knobs(const TuneCli& c, const std::vector<std::string>& paths, const TuneInput& in) {
  if (c.oracle || c.verify) throw UserError("--oracle and --verify take one profile; give --profile one file");
  if (!(c.min_agreement_pct >= 0 && c.min_agreement_pct <= 100)) {
    throw UserError(fmt::format("--min-agreement {}: must be a percentage from 0 to 100", c.min_agreement_pct));
  }
  struct Set {
    Knobs knobs;
    std::optional<double> top1;
    TuneResult result;
  };
  std::vector<Set> sets;
  std::string model;
  for (const std::string& path : paths) {
    const LoadedProfile lp = load_profile(path);
    print_load_note(lp);
    if (!model.empty() && lp.profile.model != model) {
      throw UserError(fmt::format("--profile: {} is of model {}, the first of {}: tune across knobs takes profiles of one "
                                  "model",
                                  path, lp.profile.model, model));
    }
    model = lp.profile.model;
    Set set;
    set.knobs = profile_knobs(lp.profile, &set.top1);
    for (const Set& other : sets) {
      if (other.knobs == set.knobs) throw UserError(fmt::format("--profile: two profiles with knobs {}", set.knobs.label()));
    }
    set.result = tune(lp.profile, in);
    sets.push_back(std::move(set));
  }
  const double min_agreement = c.min_agreement_pct / 100;
  const auto eligible = [&](const Set& s) {
    return s.knobs.precision == Precision::kFp32 || (s.top1 && *s.top1 >= min_agreement - 1e-12);
  };
  std::vector<std::pair<const Set*, const TuneCandidate*>> all;
  for (const Set& s : sets) {
    if (!eligible(s)) continue;
    for (const TuneCandidate& k : s.result.meeting) all.push_back({&s, &k});
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.second->energy_per_image_j < b.second->energy_per_image_j; });
  fmt::print("tune: {} knob sets of {}, {} at {:g}/s; {} (policy, knobs) meet {} <= {}\n", sets.size(), model, c.arrivals,
             c.rate, all.size(), latency_key(in.target.figure), format_duration_s(in.target.limit_s()));
  if (all.empty()) {
    fmt::print("no policy meets the target with any knob set allowed\n");
    return 1;
  }
  fmt::print("{:<20} {:<26} {:>16} {:>12} {:>12} {:>10}\n", "policy", "knobs", "energy J/image", "p99", "max", "avg batch");
  for (std::size_t i = 0; i < std::min(c.top, all.size()); ++i) {
    const TuneCandidate& k = *all[i].second;
    fmt::print("{:<20} {:<26} {:>16.5g} {:>12} {:>12} {:>10.2f}\n", k.policy, all[i].first->knobs.label(),
               k.energy_per_image_j, format_duration_s(k.p99_s), format_duration_s(k.max_s), k.avg_batch);
  }
  const Set* defaults = nullptr;
  for (const Set& s : sets) {
    if (s.knobs.is_default()) defaults = &s;
  }
  fmt::print("each knob set's best{}:\n", defaults ? " against fp32's" : " (no fp32 profile given)");
  for (const Set& s : sets) {
    const std::string top1 = s.top1 ? fmt::format(", top-1 {:.0f} %", *s.top1 * 100) : "";
    if (s.result.meeting.empty()) {
      fmt::print("  {:<26} nothing meets the target{}\n", s.knobs.label(), top1);
      continue;
    }
    const TuneCandidate& best = s.result.meeting.front();
    std::string line = fmt::format("  {:<26} {} {:.5g} J/image", s.knobs.label(), best.policy, best.energy_per_image_j);
    if (defaults && &s != defaults && !defaults->result.meeting.empty()) {
      const double base = defaults->result.meeting.front().energy_per_image_j;
      line += fmt::format(" ({:+.1f} %)", (best.energy_per_image_j - base) / base * 100);
    }
    line += top1;
    if (!eligible(s)) line += fmt::format(" (excluded: below --min-agreement {:g} %)", c.min_agreement_pct);
    fmt::print("{}\n", line);
  }
  return 0;
}

// tune --oracle: the best static policy per segment, and the switch between them simulated.
int do_oracle(const Profile& p, const TuneInput& in) {
  const OracleResult r = oracle(p, in);
  fmt::print("oracle of {} ({} requests): the best static policy per segment, meeting {} <= {}\n", in.arrivals,
             r.record.requests, latency_key(in.target.figure), format_duration_s(in.target.limit_s()));
  fmt::print("{:>10} {:>10} {:>9}  {:<22} {:>14} {:>10}\n", "from", "length", "rate", "policy", "energy J/image", "p99");
  bool all_met = true;
  for (const OracleSegment& s : r.segments) {
    all_met = all_met && s.best;
    fmt::print("{:>10} {:>10} {:>8.4g}/s  {:<22} {:>14} {:>10}\n", format_duration(s.from_ns), format_duration(s.length_ns),
               s.rate_hz, s.best ? s.best->policy : "none meets it",
               s.best ? fmt::format("{:.5g}", s.best->energy_per_image_j) : "-",
               s.best ? format_duration_s(s.best->p99_s) : "-");
  }
  const RunRecord& rec = r.record;
  fmt::print("oracle policy: {}\n", r.policy);
  fmt::print("simulated over the whole load: p99 {}, max {}, avg batch {:.2f}, {}\n",
             format_duration_s(rec.summary->latency_s.p99), format_duration_s(rec.summary->latency_s.max),
             rec.summary->avg_batch_size,
             rec.energy && rec.energy->per_image_j ? fmt::format("{:.5g} J/image", *rec.energy->per_image_j) : "energy n/a");
  if (!all_met) fmt::print("some segments have no static policy meeting the target: greedy:{} stands in\n", in.cap);
  return all_met ? 0 : 1;
}

int do_tune(const TuneCli& c) {
  std::vector<std::string> paths;
  for (std::size_t start = 0; start <= c.profile.size();) {
    std::size_t comma = c.profile.find(',', start);
    if (comma == std::string::npos) comma = c.profile.size();
    if (comma > start) paths.push_back(c.profile.substr(start, comma - start));
    start = comma + 1;
  }
  if (paths.empty()) throw UserError("--profile: no file given");
  TuneInput in;
  in.target = parse_latency_target(c.slo, "--slo");
  in.rate_hz = c.rate;
  in.arrivals = c.arrivals;
  in.requests = c.requests;
  // A load that changes runs one cycle unless --requests says otherwise (a trace: 2048, as before).
  in.requests_given = c.requests_given || !parse_arrivals(c.arrivals).varies();
  in.seed = c.seed;
  in.cap = c.cap;
  in.jobs = c.jobs;
  if (!c.slowdown.empty()) {
    if (c.verify) {
      throw UserError("--slowdown with --verify: --verify runs the best policies for real on this machine, where no "
                      "slowdown applies; tune with --slowdown, then run its pick");
    }
    in.slowdown = parse_slowdown(c.slowdown);
    fmt::print(stderr, "tuning for a machine slower than the profile: --slowdown {}\n", c.slowdown);
  }
  if (paths.size() > 1) return do_tune_knobs(c, paths, in);
  const LoadedProfile lp = load_profile(paths.front());
  print_load_note(lp);
  if (c.verify) check_results_folder(c.out);
  const Profile& p = lp.profile;
  if (c.oracle) return do_oracle(p, in);
  const TuneResult r = tune(p, in);
  const LatencyTarget& slo = in.target;
  const std::vector<TuneCandidate>& ok = r.meeting;
  fmt::print("tune: {} policies simulated in {:.2f} s ({} job(s); {} at {:g}/s, {} requests each); {} meet {} <= {}\n",
             r.simulated, r.seconds, r.jobs, c.arrivals, c.rate,
             schedule_count(parse_arrivals(c.arrivals), in.requests, in.requests_given), ok.size(), latency_key(slo.figure),
             format_duration_s(slo.limit_s()));
  if (ok.empty()) {
    fmt::print("no policy meets the target at this rate: the model is too slow for it, or the target too tight\n");
    return 1;
  }
  if (p.energy_estimated()) {
    fmt::print("energy ESTIMATED: the profile's energy is the CPU-time estimate (no sensor), not measured\n");
  }
  fmt::print("{:<20} {:>16} {:>12} {:>12} {:>10}\n", "policy", "energy J/image", "p99", "max", "avg batch");
  for (std::size_t i = 0; i < std::min(c.top, ok.size()); ++i) {
    const TuneCandidate& k = ok[i];
    fmt::print("{:<20} {:>16.5g} {:>12} {:>12} {:>10.2f}\n", k.policy, k.energy_per_image_j, format_duration_s(k.p99_s),
               format_duration_s(k.max_s), k.avg_batch);
  }
  if (!c.verify) return 0;
  constexpr std::size_t kVerified = 3;
  fmt::print("verifying the best {} for real ({} on {}), {} run(s) of each:\n", std::min(kVerified, ok.size()), p.model,
             p.device, c.verify_repetitions);
  const std::vector<Verified> verified = verify(
      p, in, ok, kVerified, c.out,
      [&slo](const Verified& v) {
        const Energy& e = *v.measured.energy;
        fmt::print("  {:<20} predicted {:.5g} J/image, {} {}; measured {}{} J/image, {} {}\n", v.predicted.policy,
                   v.predicted.energy_per_image_j, latency_key(slo.figure), format_duration_s(v.predicted.latency_s),
                   e.estimated ? "(estimated) " : "", e.per_image_j ? fmt::format("{:.5g}", *e.per_image_j) : "n/a",
                   latency_key(slo.figure), format_duration_s(v.measured_latency_s));
      },
      c.verify_repetitions);
  // The measured runs, judged as recommend judges them: the lowest energy meeting the target,
  // beyond the noise of the repetitions or tied.
  std::vector<report::Run> runs;
  for (const Verified& v : verified) runs.push_back(report::run_from_record(v.measured, c.out + "/runs.jsonl"));
  // Named: the recommendations point into the configurations, which must outlive them.
  const std::vector<report::Config> configs = report::aggregate(runs);
  for (const report::Recommendation& r : report::recommend(configs, slo)) {
    if (r.best) {
      fmt::print("measured pick: {} ({:.5g} J/image{}): {}\n", r.best->policy, r.best->energy_j->mean,
                 r.best->energy_j->n > 1 ? fmt::format(" ± {:.2g}", r.best->energy_j->ci) : "", r.verdict.text);
    } else {
      fmt::print("measured pick: none ({})\n", r.note);
    }
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
  prof->add_option("--refine", pc->args.refine,
                   "Scan first: where a midpoint's service misses the line between two sizes by over this share, "
                   "measure it too (0: sizes exactly as given)")
      ->capture_default_str();
  add_whole(prof, "--refine-max", pc->args.refine_max, "At most this many sizes added by --refine (0: as many as given, at least 8)",
            0, kMaxRefineAdded);
  add_choice(prof, "--clock", pc->spec.clock, "real, or virtual (synthetic models: instant and exact)");
  prof->add_option("--batch-sizes", pc->args.batch_sizes, "Comma-separated batch sizes")->capture_default_str();
  prof->add_option("--min-window", pc->args.min_window, "Measure each batch size at least this long")->capture_default_str();
  prof->add_option("--idle-window", pc->args.idle_window, "Idle power measured first over this window")->capture_default_str();
  prof->add_option("--idle-gaps", pc->args.idle_gaps,
                   "Idle times before the spaced batches that measure service after idleness (empty: none)")
      ->capture_default_str();
  add_whole(prof, "--idle-samples", pc->args.idle_samples, "Spaced batches per idle time, at least", 0, kMaxIdleSamples);
  add_whole(prof, "--rounds", pc->args.rounds,
            "Measure in this many rounds over all sizes, each a share of every size's window and bursts "
            "(a machine that drifts then weighs on every size alike)",
            1, kMaxProfileRounds);
  prof->add_option("--idle-order", pc->args.idle_order,
                   "steady: each idle time in one stretch per round, as a run sees it; shuffled: every burst's idle "
                   "time at random")
      ->capture_default_str()
      ->check(CLI::IsMember({"steady", "shuffled"}));
  add_whole(prof, "--threads", pc->spec.threads, "CPU threads (0: all)", 0, limits::kMaxThreads);
  add_choice(prof, "--preprocess", pc->spec.preprocess, "cached or per-request");
  add_preprocess_threads(prof, pc->spec.preprocess_threads);
  add_choice(prof, "--host-memory", pc->spec.host_memory, "cached or system (as for run)");
  add_knob_options(prof, pc->spec.knobs);
  prof->add_option("--models-dir", pc->spec.models_dir, "Where --model NAME is looked up")->capture_default_str();
  prof->add_option("--images", pc->spec.images_dir, "JPEG images folder")->capture_default_str();
  add_whole(prof, "--warmup-batches", pc->spec.warmup_batches, "Warm-up batches", 0, limits::kMaxWarmupBatches);
  add_whole(prof, "--warmup-batch-size", pc->spec.warmup_batch_size, "Warm-up batch size", 0, kMaxPolicyBatch);
  prof->add_option("--out", pc->out, "Profile file to write")->capture_default_str();
  prof->callback([&action, pc] { action = [pc] { return do_profile(*pc); }; });

  auto sc = std::make_shared<SimulateCli>();
  CLI::App* sim = app.add_subcommand("simulate", "Predict runs from a profile on the virtual clock (same outputs as run)");
  sim->add_option("--profile", sc->profile, "Profile(s) from greenbatch profile, comma-separated (one per model)")->required();
  sim->add_option("--rate", sc->rates, "Rate(s), comma-separated: 16,32,64,128")->capture_default_str();
  sim->add_option("--policy", sc->policies, "Policy(ies), comma-separated")->capture_default_str();
  sim->add_option("--arrivals", sc->arrivals, "Arrival process (as for run)")->capture_default_str();
  CLI::Option* sim_requests = add_whole(
      sim, "--requests", sc->requests,
      "Requests per run (default 8192; with trace:, the whole trace; with steps: and diurnal:, one cycle)", 1,
      limits::kMaxRequests);
  add_seed(sim, sc->seed, "Seed");
  sim->add_option("--sweep", sc->sweep, "Simulate the grid of an experiment file instead (its models are replaced by the profile's)");
  sim->add_option("--idle-smoothing", sc->idle_smoothing,
                  "Share of the after-idle draws taken from the neighbouring measured idle times (0 to 1)")
      ->capture_default_str();
  sim->add_option("--slowdown", sc->slowdown,
                  "Replay on a machine slower than the profile: xF (every batch's service x F) or xF@START+DURATION "
                  "(the batches starting in that stretch), comma-separated, e.g. x2@60s+20s");
  sim->add_option("--out", sc->out, "Results folder")->capture_default_str();
  sim->add_option("--requests-out", sc->requests_out,
                  "Also write the per-request records of the (one) simulated run to this CSV, as run does");
  sim->callback([&action, sc, sim_requests] {
    sc->requests_given = sim_requests->count() > 0;
    action = [sc] { return do_simulate(*sc); };
  });

  auto tc = std::make_shared<TuneCli>();
  CLI::App* tune = app.add_subcommand("tune", "Search fixed, greedy and timeout policies (and the target's adaptive and aimd) for the least energy under a latency target");
  tune->add_option("--profile", tc->profile,
                   "Profile from greenbatch profile; several, comma-separated, of one model measured with other knobs "
                   "(--precision, --memory-format, ...): every policy under every knob set")
      ->required();
  tune->add_option("--min-agreement", tc->min_agreement_pct,
                   "With several profiles: knob sets other than fp32 only when at least this % of the shipped images "
                   "keep their fp32 top-1 class (the profile's backend.agreement)")
      ->capture_default_str();
  add_rate(tune, tc->rate, "Request rate");
  tune->add_option("--arrivals", tc->arrivals, "Arrival process")->capture_default_str();
  tune->add_option("--slo", tc->slo, "Latency target: p50|p90|p95|p99|max|mean=DURATION")->capture_default_str();
  CLI::Option* tune_requests = add_whole(
      tune, "--requests", tc->requests,
      "Requests per simulated run (default 2048; with trace:, the whole trace; with steps: and diurnal:, one cycle)", 1,
      limits::kMaxRequests);
  add_whole(tune, "--cap", tc->cap, "Largest batch size searched", 1, kMaxTuneCap);
  add_whole(tune, "--top", tc->top, "How many of the best to print", 0, std::numeric_limits<std::uint64_t>::max());
  add_seed(tune, tc->seed, "Seed");
  add_whole(tune, "--jobs", tc->jobs, "Policies simulated at once (0: one per hardware thread)", 0, kMaxTuneJobs);
  tune->add_flag("--verify", tc->verify, "Run the best three for real and compare");
  add_whole(tune, "--verify-repetitions", tc->verify_repetitions,
            "Runs of each verified policy (interleaved); with two or more, the measured pick is tested against the "
            "noise (Welch's t) as recommend does",
            1, 100);
  tune->add_option("--out", tc->out, "Where --verify appends its runs")->capture_default_str();
  tune->add_option("--slowdown", tc->slowdown,
                   "Tune for a machine slower than the profile, as simulate --slowdown: xF or xF@START+DURATION "
                   "(--oracle: xF only)");
  tune->add_flag("--oracle", tc->oracle,
                 "For a load that changes (steps:, diurnal:): the best static policy of each segment, switched at the "
                 "change points (a switch: policy), simulated over the whole load");
  tune->callback([&action, tc, tune_requests] {
    tc->requests_given = tune_requests->count() > 0;
    action = [tc] { return do_tune(*tc); };
  });
}

}  // namespace greenbatch::cli
