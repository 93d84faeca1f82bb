#include "load/run_load.hpp"

#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "arrivals/schedule.hpp"
#include "build_info.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/meter.hpp"
#include "load/server_metrics.hpp"
#include "load/summary.hpp"
#include "load/target.hpp"

namespace greenbatch::load {

namespace {

constexpr TimeNs kPreflightTimeout = 5 * kNsPerS;

// The meter of this machine: auto tries the GPU's NVML counter (the server's GPU when it runs
// here), then RAPL, then none (with the reason).
std::unique_ptr<EnergyMeter> local_meter(const std::string& spec) {
  if (spec != "auto") return make_meter(spec, MeterContext{"cpu", ""});
  auto gpu = make_meter("auto", MeterContext{"cuda:0", ""});
  if (gpu->spec() != "none") return gpu;
  // Not the estimate: this process is the client, whose CPU time is not the server's work.
  return make_meter("auto", MeterContext{"cpu", "", /*estimate_without_sensor=*/false});
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]";
}

// The server is up and serves the model. Returns its metadata (GET /v2).
nlohmann::json preflight(const Target& target, const std::string& model) {
  for (const std::string& path : {std::string("/v2/health/ready"), fmt::format("/v2/models/{}/ready", model)}) {
    const HttpReply r = http_get(target, path, kPreflightTimeout);
    if (r.status != 200) {
      throw UserError(fmt::format("{} is not ready: GET {} answered {}{}", target.url(), path, r.status,
                                  r.body.empty() ? "" : " " + r.body.substr(0, 200)));
    }
  }
  const HttpReply meta = http_get(target, "/v2", kPreflightTimeout);
  if (meta.status != 200) throw UserError(fmt::format("{}: GET /v2 answered {}", target.url(), meta.status));
  nlohmann::json server = nlohmann::json::parse(meta.body, nullptr, false);
  if (server.is_discarded()) throw UserError(fmt::format("{}: GET /v2 answered something other than JSON", target.url()));
  return server;
}

bool whole_trace(const LoadSpec& s, const ArrivalSpec& a) {
  return a.whole_by_default() && !s.requests_given;
}

ArrivalSpec checked_arrivals(const LoadSpec& s) {
  const ArrivalSpec arrivals = parse_arrivals(s.arrivals);
  check_schedule(arrivals, s.rate_hz, whole_trace(s, arrivals) ? 0 : s.requests);
  return arrivals;
}

}  // namespace

RunRecord load_header(const LoadSpec& s) {
  const Target target = parse_target(s.url);
  check_model_name(s.model, "--model");
  if (s.timeout <= 0) throw UserError("--timeout: must be more than 0");
  if (s.idle_window < 0 || s.idle_window > limits::kMaxTimeNs) {
    throw UserError("--idle-window: must be from 0 to 100 years");
  }
  if (s.input != "tensor" && s.input != "jpeg" && s.input != "null") {
    throw UserError(fmt::format("--input '{}': accepted: {}", s.input, kLoadInputs));
  }
  check_tensor_name(s.names.input, "--input-name");
  check_tensor_name(s.names.output, "--output");
  if (s.meter != "server") check_meter_spec(s.meter);
  if (s.meter.starts_with("estimate")) {
    throw UserError("--meter estimate: the estimate counts this process's CPU time, which is the client's, not the "
                    "server's; run the server with --meter estimate and give load --meter server");
  }
  if (s.connections == 0) throw UserError("--connections: must be at least 1");
  const ArrivalSpec arrivals = checked_arrivals(s);
  RunRecord rec;
  rec.mode = "load";
  rec.via = s.via;
  rec.target = target.url();
  rec.model = s.record_model.empty() ? s.model : s.record_model;
  rec.device = s.device;
  rec.clock = "real";
  rec.arrivals = arrivals.text;
  rec.policy = s.policy;
  rec.meter = s.meter;
  rec.rate_hz = s.rate_hz;
  rec.seed = s.seed;
  rec.requests = schedule_count(arrivals, s.requests, !whole_trace(s, arrivals));
  if (arrivals.varies()) rec.rate_hz = arrivals.mean_rate_hz();
  rec.repetition = s.repetition;
  rec.host = hostname();
  rec.tool_version = build::kVersion;
  rec.git_rev = build::kGitRev;
  return rec;
}

LoadRun run_load(const LoadSpec& s, const std::atomic<bool>* cancel) {
  // Everything that can be wrong with the input is found before the run starts.
  RunRecord rec = load_header(s);
  const Target target = parse_target(s.url);
  const ArrivalSpec arrivals = checked_arrivals(s);
  OpenLoopConfig cfg;
  cfg.target = target;
  cfg.path = fmt::format("/v2/models/{}/infer", s.model);
  cfg.bodies = s.input == "null" ? null_model_bodies(s.names)
               : s.input == "jpeg" ? jpeg_bodies(image_files(s.images_dir))
                                   : tensor_bodies(image_files(s.images_dir), s.names);
  cfg.connections = s.connections;
  cfg.timeout = s.timeout;
  cfg.cancel = cancel;
  const std::vector<TimeNs> schedule =
      generate_schedule(arrivals, s.rate_hz, whole_trace(s, arrivals) ? 0 : s.requests, s.seed);
  rec.server = preflight(target, s.model);
  // A greenbatch serve says what it serves: its backend's facts (versions, threads, the CPU or
  // GPU) are the record's, as a run's are.
  if (const auto g = rec.server.find("greenbatch"); g != rec.server.end() && g->is_object()) {
    if (const auto b = g->find("backend"); b != g->end() && b->is_object()) rec.backend = *b;
    // --meter server: the meter is the server's (its energy.method says it was read from there).
    if (const auto m = g->find("meter"); m != g->end() && m->is_string() && s.meter == "server") rec.meter = *m;
  }
  rec.offered_rate_hz = offered_rate_hz(schedule);
  const bool from_server = s.meter == "server";
  std::unique_ptr<EnergyMeter> meter = from_server ? nullptr : local_meter(s.meter);
  if (meter) rec.meter = meter->spec();
  rec.started_utc = utc_now_iso8601();

  if (meter) {
    try {
      meter->measure_idle_w(s.idle_window);
    } catch (const std::exception& e) {
      throw UserError(fmt::format("measuring idle power failed: {}", e.what()));
    }
  }
  // The window: from just before the first send to the last answer. A local meter sees this
  // machine only; the server's batches are not known here (no busy or peak power). The server's
  // own meter (--meter server) is read before and after.
  const auto origin = std::chrono::steady_clock::now();
  const auto since = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin).count();
  };
  std::optional<ServerReading> before;
  if (from_server) before = read_server(target, since());
  else meter->start(since());
  LoadRun out;
  out.requests = run_open_loop(cfg, schedule);
  out.cancelled = cancel && cancel->load();
  const LoadSummary sum = summarize_load(out.requests, parse_arrivals(s.arrivals).varies() ? kLoadWindowNs : 0);
  Energy e;
  rec.summary = sum.summary;
  rec.load = sum.figures;
  if (from_server) {
    if (!out.cancelled) {
      const ServerReading after = read_server(target, since());
      e = server_energy(*before, after, sum.figures.statuses.s2xx);
      if (e.measured && rec.meter.starts_with("estimate")) {  // the server estimates: so is this
        e.measured = false;
        e.estimated = true;
        e.reason = fmt::format("the server's meter is an estimate from CPU time ({}), not a sensor", rec.meter);
      }
      // The server's batches in the window (no other client in a sweep's serve mode).
      rec.summary->batches = static_cast<std::size_t>(after.batches - before->batches + 0.5);
      if (rec.summary->batches > 0) {
        rec.summary->avg_batch_size =
            (after.batch_size_sum - before->batch_size_sum) / static_cast<double>(rec.summary->batches);
      }
    }
  } else {
    e = meter->stop(since(), {}, sum.figures.statuses.s2xx);
    e.trace.clear();
    if (e.has_figures() && !is_loopback(target.host)) {
      e.warnings.push_back(fmt::format("the meter measured this machine ({}); the server at {} may run on another, "
                                       "whose energy is not in this figure",
                                       hostname(), target.host));
    }
  }
  rec.energy = e;
  const std::size_t failed = rec.requests - sum.figures.statuses.s2xx;
  if (failed > 0) {
    const auto& st = sum.figures.statuses;
    rec.error = fmt::format("{} of {} requests failed ({} 4xx, {} 5xx, {} other, {} timeouts, {} connection errors)",
                            failed, rec.requests, st.s4xx, st.s5xx, st.other, st.timeout, st.connection_error);
  }
  out.record = std::move(rec);
  return out;
}

}  // namespace greenbatch::load
