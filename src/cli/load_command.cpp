// greenbatch load: a seeded schedule of requests sent to an Open Inference Protocol server over
// HTTP, open loop (src/load); one record appended to DIR/runs.jsonl.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "arrivals/schedule.hpp"
#include "build_info.hpp"
#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/meter.hpp"
#include "engine/run_record.hpp"
#include "io/results.hpp"
#include "load/bodies.hpp"
#include "load/client.hpp"
#include "load/summary.hpp"

namespace greenbatch::cli {

namespace {

constexpr std::uint64_t kMaxConnections = 10000;
constexpr TimeNs kPreflightTimeout = 5 * kNsPerS;

struct LoadOptions {
  std::string url, model;
  double rate_hz = 64;
  std::string arrivals = "constant";
  std::size_t requests = 8192;
  std::uint64_t seed = 1;
  std::string input = "tensor";
  std::string images_dir = "data/images";
  std::size_t connections = 64;
  std::string timeout = "10s";
  std::string out_dir = "results";
  std::string requests_out;
  load::TensorNames names;
  std::string meter = "auto";
  std::string idle_window = "5s";
};

// The meter of this machine: --meter as run takes it; auto tries the GPU's NVML counter (the
// server's GPU when it runs here), then RAPL, then none (with the reason).
std::unique_ptr<EnergyMeter> local_meter(const std::string& spec) {
  if (spec != "auto") return make_meter(spec, MeterContext{"cpu", ""});
  auto gpu = make_meter("auto", MeterContext{"cuda:0", ""});
  if (gpu->spec() != "none") return gpu;
  return make_meter("auto", MeterContext{"cpu", ""});
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]";
}

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

// The server is up and serves the model: a server that is down is one clear error, not thousands
// of failed requests. Returns its metadata (GET /v2).
nlohmann::json preflight(const load::Target& target, const std::string& model) {
  for (const std::string& path : {std::string("/v2/health/ready"), fmt::format("/v2/models/{}/ready", model)}) {
    const load::HttpReply r = load::http_get(target, path, kPreflightTimeout);
    if (r.status != 200) {
      throw UserError(fmt::format("{} is not ready: GET {} answered {}{}", target.url(), path, r.status,
                                  r.body.empty() ? "" : " " + r.body.substr(0, 200)));
    }
  }
  const load::HttpReply meta = load::http_get(target, "/v2", kPreflightTimeout);
  if (meta.status != 200) throw UserError(fmt::format("{}: GET /v2 answered {}", target.url(), meta.status));
  nlohmann::json server = nlohmann::json::parse(meta.body, nullptr, false);
  if (server.is_discarded()) throw UserError(fmt::format("{}: GET /v2 answered something other than JSON", target.url()));
  return server;
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
  std::fprintf(stdout, "%s", fmt::format("  appended to {}/runs.jsonl\n", out_dir).c_str());
}

int do_load(const LoadOptions& o, bool requests_given) {
  // Everything that can be wrong with the input is found before the run starts.
  const load::Target target = load::parse_target(o.url);
  const TimeNs timeout = parse_duration_ns(o.timeout, "--timeout");
  if (timeout <= 0) throw UserError("--timeout: must be more than 0");
  const ArrivalSpec arrivals = parse_arrivals(o.arrivals);
  const bool whole_trace = arrivals.kind == ArrivalSpec::Kind::kTrace && !requests_given;
  check_schedule(arrivals, o.rate_hz, whole_trace ? 0 : o.requests);
  check_results_folder(o.out_dir);
  if (!o.requests_out.empty()) check_writable_file(o.requests_out, "--requests-out");
  const auto files = load::image_files(o.images_dir);
  load::OpenLoopConfig cfg;
  cfg.target = target;
  cfg.path = fmt::format("/v2/models/{}/infer", o.model);
  load::check_tensor_name(o.names.input, "--input-name");
  load::check_tensor_name(o.names.output, "--output");
  cfg.bodies = o.input == "jpeg" ? load::jpeg_bodies(files)
               : o.input == "null" ? load::null_model_bodies(o.names)
                                   : load::tensor_bodies(files, o.names);
  cfg.connections = o.connections;
  cfg.timeout = timeout;
  const std::vector<TimeNs> schedule =
      generate_schedule(arrivals, o.rate_hz, whole_trace ? 0 : o.requests, o.seed);
  check_meter_spec(o.meter);
  const TimeNs idle_window = parse_duration_ns(o.idle_window, "--idle-window");
  if (idle_window < 0 || idle_window > limits::kMaxTimeNs) throw UserError("--idle-window: must be from 0 to 100 years");

  RunRecord rec;
  rec.mode = "load";
  rec.target = target.url();
  rec.server = preflight(target, o.model);
  rec.model = o.model;
  rec.device = "remote";
  rec.clock = "real";
  rec.arrivals = arrivals.text;
  rec.policy = "server";
  std::unique_ptr<EnergyMeter> meter = local_meter(o.meter);
  rec.meter = meter->spec();
  rec.rate_hz = o.rate_hz;
  rec.seed = o.seed;
  rec.requests = schedule.size();
  rec.offered_rate_hz = offered_rate_hz(schedule);
  rec.host = hostname();
  rec.tool_version = build::kVersion;
  rec.git_rev = build::kGitRev;
  rec.started_utc = utc_now_iso8601();

  try {
    meter->measure_idle_w(idle_window);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("measuring idle power failed: {}", e.what()));
  }
  // The window: from just before the first send to the last answer. The meter sees this machine
  // only; the server's batches are not known here (no busy or peak power).
  const auto origin = std::chrono::steady_clock::now();
  const auto since = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin).count();
  };
  meter->start(since());
  const std::vector<load::RequestRecord> records = load::run_open_loop(cfg, schedule);
  const load::LoadSummary sum = load::summarize_load(records);
  Energy e = meter->stop(since(), {}, sum.figures.statuses.s2xx);
  e.trace.clear();
  if (e.measured && !is_loopback(target.host)) {
    e.warnings.push_back(fmt::format("the meter measured this machine ({}); the server at {} may run on another, "
                                     "whose energy is not in this figure",
                                     hostname(), target.host));
  }
  rec.summary = sum.summary;
  rec.load = sum.figures;
  rec.energy = e;
  // The record is saved first: a later failure must not lose a measurement.
  append_line_durable(o.out_dir + "/runs.jsonl", rec.to_json().dump());
  if (!o.requests_out.empty()) write_load_requests_csv(o.requests_out, records);
  print_load_summary(rec, o.out_dir);
  return 0;
}

}  // namespace

void add_load_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<LoadOptions>();
  CLI::App* sub = app.add_subcommand(
      "load", "Send a seeded schedule of inference requests to an Open Inference Protocol (KServe v2) server, open "
              "loop (each at its time, whatever the earlier ones are doing); measure response times from the "
              "scheduled times");
  sub->add_option("URL", o->url, "The server: http://HOST:PORT")->required();
  sub->add_option("--model", o->model, "The model's name on the server (/v2/models/NAME/infer)")->required();
  add_rate(sub, o->rate_hz, "Mean arrival rate in requests per second (ignored with trace:)");
  sub->add_option("--arrivals", o->arrivals,
                  "Arrival process: constant, jitter:F, poisson, bursty[:burst=B,on=D], trace:FILE")
      ->capture_default_str();
  CLI::Option* requests = add_whole(sub, "--requests", o->requests,
                                    "Number of requests (default 8192; with trace:, the whole trace)", 1,
                                    limits::kMaxRequests);
  add_seed(sub, o->seed, "Seed of every random draw (same seed, same schedule)");
  sub->add_option("--input", o->input,
                  "tensor: each image preprocessed here into an FP32 [1,3,224,224] tensor in Triton's binary tensor "
                  "data, asking for top1; jpeg: the JPEG file as an image/jpeg body; null: a small FP32 [1,4] "
                  "JSON request, for a null model (greenbatch serve --model synthetic takes any shape)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tensor", "jpeg", "null"}));
  sub->add_option("--input-name", o->names.input,
                  "The model's input name in tensor and null requests (a Triton model's, e.g. input__0; greenbatch "
                  "serve takes any)")
      ->capture_default_str();
  sub->add_option("--output", o->names.output,
                  "The one output asked for, as binary data (a Triton model's, e.g. output__0; greenbatch serve: "
                  "top1 or logits)")
      ->capture_default_str();
  sub->add_option("--images", o->images_dir, "JPEG images; request i sends image i mod count, sorted by name")
      ->capture_default_str();
  add_whole(sub, "--connections", o->connections,
            "Most keep-alive connections open at once (opened as needed); a request due while all are busy waits "
            "for one, and its latency shows it",
            1, kMaxConnections);
  sub->add_option("--timeout", o->timeout, "Per request, from its send: no complete answer by then is a timeout")
      ->capture_default_str();
  sub->add_option("--meter", o->meter,
                  "Energy meter of this machine (energy per successful inference over the window): auto (NVML's "
                  "counter of GPU 0, else RAPL where readable, else none), or any form run takes: nvml[:gpu=N], "
                  "nvml-sampled, rapl, modelled:idle=P,busy=P, none")
      ->capture_default_str();
  sub->add_option("--idle-window", o->idle_window, "How long idle power is measured before the run (0s: not at all)")
      ->capture_default_str();
  sub->add_option("--out", o->out_dir, "Results folder: runs.jsonl is appended to")->capture_default_str();
  sub->add_option("--requests-out", o->requests_out,
                  "Also write per-request records to this CSV (id,scheduled_s,sent_s,done_s,outcome,status)");
  sub->callback([&action, o, requests] {
    const bool given = requests->count() > 0;
    action = [o, given] { return do_load(*o, given); };
  });
}

}  // namespace greenbatch::cli
