// greenbatch run: one configuration, measured, appended to DIR/runs.jsonl and DIR/runs.csv.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "batching/policy.hpp"
#include "engine/execute.hpp"
#include "io/results.hpp"

namespace greenbatch::cli {

namespace {

struct RunOptions {
  RunSpec spec;
  std::string out_dir = "results";
  std::string requests_out;
  std::string power_trace;
  std::string idle_window = "5s";
  std::string csv_style = "greenbatch";
};

}  // namespace

std::string energy_line(const Energy& e) {
  if (!e.has_figures()) return fmt::format("not measured ({})", e.reason);
  std::string cross;
  if (e.cross_check && e.cross_check->per_image_j) {
    cross = fmt::format("; {} says {:.4g} J/image ({:+.1f} %)", e.cross_check->method, *e.cross_check->per_image_j,
                        e.cross_check->difference_pct.value_or(0));
  }
  std::string s = fmt::format("{}{:.4g} J/image ({:.6g} J in {:.3f} s, method {})", e.estimated ? "ESTIMATED " : "",
                              e.per_image_j.value_or(0), e.joules.value_or(0), e.window_s, e.method);
  if (e.estimated) s += "\n  " + e.reason;
  if (e.dynamic_per_image_j) s += fmt::format(", {:.4g} J/image above idle", *e.dynamic_per_image_j);
  s += cross;
  for (const std::string& w : e.warnings) s += "\n  warning: " + w;
  return s;
}

std::string carbon_line(const Carbon& c) {
  return fmt::format("{}{:.4g} g CO2e ({:.4g} mg per image) at {:.4g} gCO2e/kWh ({})", c.estimated ? "ESTIMATED " : "",
                     c.grams, c.grams_per_image.value_or(0) * 1000, c.intensity_g_per_kwh, c.source);
}

namespace {

void print_summary(const RunRecord& rec, const std::string& out_dir) {
  const Summary& s = *rec.summary;
  const auto ms = format_duration_s;
  // A trace comes at its own rate, whatever --rate says.
  const double rate = rec.arrivals.starts_with("trace:") && rec.offered_rate_hz ? *rec.offered_rate_hz : rec.rate_hz;
  std::fprintf(stdout, "%s", fmt::format("greenbatch run: {} on {}, {} at {:g} req/s, {} ({} clock)\n", rec.model,
                                         rec.device, rec.arrivals, rate, rec.policy, rec.clock)
                                 .c_str());
  std::fprintf(stdout, "%s",
               fmt::format("  {} of {} requests in {} batches (average {:.3g}), {:.3f} s, {:.4g} req/s\n", s.completed,
                           s.requests, s.batches, s.avg_batch_size, s.duration_s, s.throughput_rps)
                   .c_str());
  std::fprintf(stdout, "%s",
               fmt::format("  latency: mean {}, p50 {}, p99 {}, max {}\n", ms(s.latency_s.mean), ms(s.latency_s.p50),
                           ms(s.latency_s.p99), ms(s.latency_s.max))
                   .c_str());
  if (rec.clock == "real") {
    std::fprintf(stdout, "%s",
                 fmt::format("  dispatch lateness: p50 {}, p99 {}, max {}\n", ms(s.dispatch_late_s.p50),
                             ms(s.dispatch_late_s.p99), ms(s.dispatch_late_s.max))
                     .c_str());
  }
  if (s.prepare_s) {
    const auto threads = rec.backend.is_object() ? rec.backend.value("preprocess_threads", nlohmann::json()) : nlohmann::json();
    std::fprintf(stdout, "%s",
                 fmt::format("  preprocessing per request: mean {}, p99 {}, max {} ({})\n", ms(s.prepare_s->mean),
                             ms(s.prepare_s->p99), ms(s.prepare_s->max),
                             threads.is_number_integer() && threads.get<int>() > 0
                                 ? fmt::format("{} worker threads, off the batch's critical path", threads.get<int>())
                                 : std::string("in the batch, on its critical path"))
                     .c_str());
  }
  std::fprintf(stdout, "%s", fmt::format("  energy: {}\n", energy_line(*rec.energy)).c_str());
  if (rec.carbon) std::fprintf(stdout, "%s", fmt::format("  carbon: {}\n", carbon_line(*rec.carbon)).c_str());
  std::fprintf(stdout, "%s", fmt::format("  appended to {}/runs.jsonl and {}/runs.csv\n", out_dir, out_dir).c_str());
}

int do_run(const RunOptions& o, bool requests_given) {
  RunSpec spec = o.spec;
  spec.requests_given = requests_given;
  spec.idle_window_ns = parse_duration_ns(o.idle_window, "--idle-window");
  const CsvStyle style = o.csv_style == "paper" ? CsvStyle::kPaper : CsvStyle::kGreenbatch;
  const std::string jsonl = o.out_dir + "/runs.jsonl";
  const std::string csv = o.out_dir + "/runs.csv";

  // Everything that can be wrong with the input is found before the run starts.
  PreparedRun run(spec);
  check_results_folder(o.out_dir);  // every output checked (and the folder locked) before the run
  for (const auto& [file, what] : {std::pair{o.requests_out, "--requests-out"}, {o.power_trace, "--power-trace"}})
    if (!file.empty()) check_writable_file(file, what);
  if (!o.power_trace.empty()) check_writable_file(batches_path(o.power_trace), "--power-trace");
  check_csv_compatible(csv, style);

  RunOutcome ran = run.execute();
  ran.record.power_trace = o.power_trace;
  const RunRecord& rec = ran.record;
  // The run's record is saved first: a later failure must not lose a measurement.
  append_line_durable(jsonl, rec.to_json().dump());
  append_csv(csv, style, rec);
  if (!o.requests_out.empty()) write_requests_csv(o.requests_out, ran.result);
  if (!o.power_trace.empty()) write_power_trace(o.power_trace, ran.result);
  print_summary(rec, o.out_dir);
  if (!rec.error.empty()) {
    std::fprintf(stderr, "greenbatch: error: the run stopped early: %s\n", rec.error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "Replay a request stream into a batching policy and a model; measure "
                                            "response times (and energy, with a meter)");
  add_model_options(sub, o->spec);
  add_rate_and_arrivals(sub, o->spec.rate_hz, o->spec.arrivals);
  sub->add_option("--policy", o->spec.policy, "Batching policy: fixed:N, greedy[:CAP], timeout:N:D, adaptive:p99=D[,...], aimd:p99=D[,...]")
      ->capture_default_str();
  CLI::Option* requests = add_whole(sub, "--requests", o->spec.requests,
                                    "Number of requests (default 8192; with trace:, the whole trace; with steps: and diurnal:, one cycle)", 1,
                                    limits::kMaxRequests);
  add_seed(sub, o->spec.seed, "Seed of every random draw (same seed, same schedule)");
  add_meter_options(sub, o->spec, o->idle_window);
  sub->add_option("--power-trace", o->power_trace,
                  "Write the power timeline to this CSV (t_s,power_w,instant_w) and the batches beside it "
                  "(NAME.batches.csv)");
  add_choice(sub, "--clock", o->spec.clock, "real, or virtual (simulated time; synthetic models only)");
  sub->add_option("--out", o->out_dir, "Results folder: runs.jsonl and runs.csv are appended to")->capture_default_str();
  sub->add_option("--requests-out", o->requests_out,
                  "Also write per-request records to this CSV (id,arrival_s,dispatch_s,done_s,batch_id,batch_size,prepare_s)");
  sub->add_option("--csv-style", o->csv_style,
                  "runs.csv columns: greenbatch, or paper (the study's seven columns)")
      ->capture_default_str()
      ->check(CLI::IsMember({"greenbatch", "paper"}));
  sub->callback([&action, o, requests] {
    const bool given = requests->count() > 0;
    action = [o, given] { return do_run(*o, given); };
  });
}

}  // namespace greenbatch::cli
