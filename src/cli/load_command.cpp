// greenbatch load: a seeded schedule of requests sent to an Open Inference Protocol server over
// HTTP, open loop (src/load); one record appended to DIR/runs.jsonl.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "engine/run_record.hpp"
#include "io/results.hpp"
#include "load/run_load.hpp"

namespace greenbatch::cli {

namespace {

constexpr std::uint64_t kMaxConnections = 10000;

struct LoadOptions {
  load::LoadSpec spec;
  std::string timeout = "10s";
  std::string out_dir = "results";
  std::string requests_out;
  std::string idle_window = "5s";
};

const char* outcome_name(load::Outcome o) {
  switch (o) {
    case load::Outcome::kHttp: return "http";
    case load::Outcome::kTimeout: return "timeout";
    case load::Outcome::kConnectionError: return "connection_error";
    case load::Outcome::kPending: return "pending";
  }
  return "pending";
}

void write_load_requests_csv(const std::string& path, std::span<const load::RequestRecord> records) {
  std::ofstream out(path, std::ios::trunc);
  out << "id,scheduled_s,sent_s,done_s,outcome,status\n";
  const auto t = [](TimeNs ns) { return ns < 0 ? std::string() : fmt::format("{:.9f}", ns_to_s(ns)); };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const load::RequestRecord& r = records[i];
    out << fmt::format("{},{},{},{},{},{}\n", i, t(r.scheduled), t(r.sent), t(r.done), outcome_name(r.outcome),
                       r.outcome == load::Outcome::kHttp ? std::to_string(r.status) : std::string());
  }
  if (!out.flush()) throw UserError(fmt::format("--requests-out {}: cannot be written", path));
}

void print_load_summary(const RunRecord& rec, const std::string& out_dir) {
  const Summary& s = *rec.summary;
  const LoadFigures& l = *rec.load;
  const auto ms = format_duration_s;
  std::fprintf(stdout, "%s",
               fmt::format("greenbatch load: {} at {}, {} at {:g} req/s\n", rec.model, rec.target, rec.arrivals,
                           rec.rate_hz)
                   .c_str());
  std::fprintf(stdout, "%s",
               fmt::format("  {} requests: {} 2xx, {} 4xx, {} 5xx, {} other, {} timeouts, {} connection errors; "
                           "sent at {:.6g} req/s\n",
                           s.requests, l.statuses.s2xx, l.statuses.s4xx, l.statuses.s5xx, l.statuses.other,
                           l.statuses.timeout, l.statuses.connection_error, l.achieved_rate_hz.value_or(0))
                   .c_str());
  if (s.completed > 0) {
    std::fprintf(stdout, "%s",
                 fmt::format("  latency (2xx, from the scheduled time): mean {}, p50 {}, p99 {}, max {}\n",
                             ms(s.latency_s.mean), ms(s.latency_s.p50), ms(s.latency_s.p99), ms(s.latency_s.max))
                     .c_str());
  }
  if (l.send_late_s) {
    std::fprintf(stdout, "%s",
                 fmt::format("  send lateness: p50 {}, p99 {}, max {}\n", ms(l.send_late_s->p50),
                             ms(l.send_late_s->p99), ms(l.send_late_s->max))
                     .c_str());
  }
  std::fprintf(stdout, "%s", fmt::format("  energy: {}\n", energy_line(*rec.energy)).c_str());
  std::fprintf(stdout, "%s", fmt::format("  appended to {}/runs.jsonl and {}/runs.csv\n", out_dir, out_dir).c_str());
}

int do_load(LoadOptions o, bool requests_given) {
  // Everything that can be wrong with the input is found before the run starts.
  load::LoadSpec& spec = o.spec;
  spec.requests_given = requests_given;
  spec.timeout = parse_duration_ns(o.timeout, "--timeout");
  spec.idle_window = parse_duration_ns(o.idle_window, "--idle-window");
  (void)load::load_header(spec);
  check_results_folder(o.out_dir);
  if (!o.requests_out.empty()) check_writable_file(o.requests_out, "--requests-out");
  const std::string csv = o.out_dir + "/runs.csv";
  check_csv_compatible(csv, CsvStyle::kGreenbatch);
  const load::LoadRun run = load::run_load(spec);
  // The record is saved first: a later failure must not lose a measurement.
  append_line_durable(o.out_dir + "/runs.jsonl", run.record.to_json().dump());
  append_csv(csv, CsvStyle::kGreenbatch, run.record);
  if (!o.requests_out.empty()) write_load_requests_csv(o.requests_out, run.requests);
  print_load_summary(run.record, o.out_dir);
  return 0;
}

}  // namespace

void add_load_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<LoadOptions>();
  CLI::App* sub = app.add_subcommand(
      "load", "Send a seeded schedule of inference requests to an Open Inference Protocol (KServe v2) server, open "
              "loop (each at its time, whatever the earlier ones are doing); measure response times from the "
              "scheduled times");
  sub->add_option("URL", o->spec.url, "The server: http://HOST:PORT")->required();
  sub->add_option("--model", o->spec.model, "The model's name on the server (/v2/models/NAME/infer)")->required();
  add_rate_and_arrivals(sub, o->spec.rate_hz, o->spec.arrivals);
  CLI::Option* requests = add_whole(sub, "--requests", o->spec.requests,
                                    "Number of requests (default 8192; with trace:, the whole trace; with steps: and diurnal:, one cycle)", 1,
                                    limits::kMaxRequests);
  add_seed(sub, o->spec.seed, "Seed of every random draw (same seed, same schedule)");
  sub->add_option("--input", o->spec.input,
                  "tensor: each image preprocessed here into an FP32 [1,3,224,224] tensor in Triton's binary tensor "
                  "data, asking for top1; jpeg: the JPEG file as an image/jpeg body; null: a small FP32 [1,4] "
                  "JSON request, for a null model (greenbatch serve --model synthetic takes any shape)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tensor", "jpeg", "null"}));
  sub->add_option("--input-name", o->spec.names.input,
                  "The model's input name in tensor and null requests (a Triton model's, e.g. input__0; greenbatch "
                  "serve takes any)")
      ->capture_default_str();
  sub->add_option("--output", o->spec.names.output,
                  "The one output asked for, as binary data (a Triton model's, e.g. output__0; greenbatch serve: "
                  "top1 or logits)")
      ->capture_default_str();
  sub->add_option("--images", o->spec.images_dir, "JPEG images; request i sends image i mod count, sorted by name")
      ->capture_default_str();
  add_whole(sub, "--connections", o->spec.connections,
            "Most keep-alive connections open at once (opened as needed); a request due while all are busy waits "
            "for one, and its latency shows it",
            1, kMaxConnections);
  sub->add_option("--timeout", o->timeout, "Per request, from its send: no complete answer by then is a timeout")
      ->capture_default_str();
  sub->add_option("--meter", o->spec.meter,
                  "Energy meter of this machine (energy per successful inference over the window): auto (NVML's "
                  "counter of GPU 0, else RAPL where readable, else none), or any form run takes: nvml[:gpu=N], "
                  "nvml-sampled, rapl, modelled:idle=P,busy=P, none; or server: the energy greenbatch serve's own meter "
                  "measured in the window, read from its /metrics")
      ->capture_default_str();
  sub->add_option("--idle-window", o->idle_window, "How long idle power is measured before the run (0s: not at all)")
      ->capture_default_str();
  sub->add_option("--out", o->out_dir, "Results folder: runs.jsonl and runs.csv are appended to")->capture_default_str();
  sub->add_option("--requests-out", o->requests_out,
                  "Also write per-request records to this CSV (id,scheduled_s,sent_s,done_s,outcome,status)");
  sub->callback([&action, o, requests] {
    const bool given = requests->count() > 0;
    action = [o, given] { return do_load(*o, given); };
  });
}

}  // namespace greenbatch::cli
