// greenbatch serve: the model behind an Open Inference Protocol (KServe v2) server, batching with
// a policy on the real clock, exporting live energy metrics; on SIGTERM or SIGINT it answers what
// it accepted and appends one record of its whole lifetime to DIR/runs.jsonl.
#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "build_info.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/power_limit.hpp"
#include "engine/execute.hpp"
#include "io/results.hpp"
#include "serve/http_server.hpp"
#include "serve/live_energy.hpp"

namespace greenbatch::cli {

namespace {

struct ServeOptions {
  RunSpec spec;
  std::string idle_window = "5s";
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;
  std::size_t max_queue = 1024;
  std::size_t max_body = 64u << 20;
  std::size_t max_items = 128;
  std::string name;
  std::string out_dir = "results";
};

// Waits for SIGINT or SIGTERM (blocked in every thread, so only this one takes them) and then
// calls `on_signal`. finish() ends the wait when the server stopped for another reason.
class SignalWaiter {
 public:
  explicit SignalWaiter(std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
    thread_ = std::thread([this] {
      sigset_t set = signals();
      int sig = 0;
      while (sigwait(&set, &sig) == 0) {
        if (done_.load()) return;
        on_signal_(sig);
        return;
      }
    });
  }
  ~SignalWaiter() { finish(); }
  void finish() {
    if (!thread_.joinable()) return;
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);  // ends sigwait if no signal came
    thread_.join();
  }
  static sigset_t signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
  }

 private:
  std::function<void(int)> on_signal_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// 1,000 concurrent connections need more descriptors than a shell's default soft limit (1024).
void raise_open_files_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// The name a model is served under: "synthetic" for any synthetic model, the file's stem for a
// path, the name as given otherwise.
std::string served_name(const ServeOptions& o) {
  if (!o.name.empty()) return o.name;
  const std::string m = canonical_model(o.spec.model);
  return m.starts_with("synthetic") ? "synthetic" : m;
}

void check_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!ok) {
    throw UserError(fmt::format("--name '{}': accepted: 1 to 128 letters, digits, '_', '-' or '.' (it is a URL path "
                                "segment)",
                                name));
  }
}

void print_record(const RunRecord& rec, const std::string& out_dir) {
  const auto ms = format_duration_s;
  std::string text = fmt::format("greenbatch serve: stopped; {} on {}, {}\n", rec.model, rec.device, rec.policy);
  if (rec.summary && rec.summary->requests > 0) {
    const Summary& s = *rec.summary;
    text += fmt::format("  {} inferences in {} batches (average {:.3g}) over {:.3f} s\n", s.completed, s.batches,
                        s.avg_batch_size, s.duration_s);
    text += fmt::format("  latency from arrival: mean {}, p50 {}, p99 {}, max {}\n", ms(s.latency_s.mean),
                        ms(s.latency_s.p50), ms(s.latency_s.p99), ms(s.latency_s.max));
  } else {
    text += "  no inference was requested\n";
  }
  if (rec.energy) text += fmt::format("  energy: {}\n", energy_line(*rec.energy));
  if (rec.carbon) text += fmt::format("  carbon: {}\n", carbon_line(*rec.carbon));
  text += fmt::format("  appended to {}/runs.jsonl\n", out_dir);
  std::fputs(text.c_str(), stdout);
}

int do_serve(const ServeOptions& o) {
  RunSpec spec = o.spec;
  spec.idle_window_ns = parse_duration_ns(o.idle_window, "--idle-window");
  spec.requests_given = true;
  auto policy = parse_policy(spec.policy);
  check_meter_spec(spec.meter);
  const CarbonIntensity carbon =
      spec.carbon_intensity.empty() ? CarbonIntensity{} : parse_carbon_intensity(spec.carbon_intensity);
  check_run_spec(spec, parse_arrivals(spec.arrivals));
  if (o.max_queue == 0) throw UserError("--max-queue: must be at least 1 (items waiting for a batch)");
  const std::string name = served_name(o);
  check_name(name);
  check_results_folder(o.out_dir);
  const std::string jsonl = o.out_dir + "/runs.jsonl";
  serve::check_can_listen(o.host, o.port);  // before the model takes its time to load

  // Signals go to the waiter's sigwait only: blocked before any thread starts.
  sigset_t sigs = SignalWaiter::signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  raise_open_files_limit();

  RealClock clock;
  std::unique_ptr<Backend> backend = make_backend(spec, clock);
  const nlohmann::json facts = backend->facts();
  MeterContext ctx;
  ctx.device = backend->device();
  if (facts.contains("device_uuid") && facts["device_uuid"].is_string()) ctx.device_uuid = facts["device_uuid"];
  std::unique_ptr<EnergyMeter> meter = make_meter(spec.meter, ctx);
  const bool synthetic = backend->device() == "synthetic";

  RunRecord rec = record_header(spec);
  rec.mode = "serve";
  rec.arrivals = "served";
  rec.rate_hz = 0;
  rec.seed = 0;
  rec.meter = meter->spec();
  rec.backend = facts;
  // --power-limit: set for the server's life (from its idle measurement), restored when it ends,
  // on every way out of here.
  std::optional<PowerLimitGuard> power_limit;
  if (spec.knobs.power_limit_w) {
    power_limit.emplace(*spec.knobs.power_limit_w, ctx.device_uuid, PowerLimitGuard::index_of(rec.device));
    rec.backend["power_limit"] = power_limit->facts();
  }

  // The server listens (live, not ready) while the model warms up.
  serve::MetricsRegistry registry;
  std::optional<double> idle_w;
  std::unique_ptr<serve::LiveEnergyTracker> live;
  std::unique_ptr<serve::InferenceLoop> loop;
  serve::ServingSources sources;
  sources.queue_depth = [&loop] { return loop ? static_cast<double>(loop->waiting()) : 0.0; };
  try {
    idle_w = meter->measure_idle_w(spec.idle_window_ns);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("measuring idle power failed: {}", e.what()));
  }
  if (meter->spec() != "none") {
    live = std::make_unique<serve::LiveEnergyTracker>(*meter, idle_w);
    sources.energy = live->sources();
  }
  serve::ServingMetrics metrics = serve::register_serving_metrics(registry, sources);
  auto observe = serve::metrics_observer(metrics);
  // The model warms up on the thread that will run its batches (LibTorch keeps state per thread);
  // one item through the output path then tells the output width (the metadata's classes).
  BatchOutput probe;
  auto warm_up = [&] {
    if (!synthetic) backend->warmup(rec.warmup_batches, rec.warmup_batch_size);
    backend->run_outputs(consecutive_requests(0, 1), probe);
  };
  loop = std::make_unique<serve::InferenceLoop>(
      *backend, *policy, o.max_queue,
      serve::InferenceLoop::Observers{
          observe,
          [&](const BatchRecord&, std::span<const TimeNs>) {
            if (live && metrics.energy_per_inference) live->after_batch(*metrics.energy_per_inference);
          }},
      warm_up);
  if (live) live->attach(*loop);
  // On every way out, the loop (whose thread asks for snapshots) ends before the snapshot thread
  // (which reads the loop), and both before the objects they point into.
  struct StopInOrder {
    std::unique_ptr<serve::InferenceLoop>& loop;
    std::unique_ptr<serve::LiveEnergyTracker>& live;
    ~StopInOrder() {
      if (loop) loop->close();
      if (live) live->stop();
    }
  } stop_in_order{loop, live};

  serve::HttpConfig cfg;
  cfg.host = o.host;
  cfg.port = o.port;
  cfg.max_body = o.max_body;
  cfg.max_items = o.max_items;
  cfg.model_name = name;
  cfg.platform = synthetic ? "greenbatch_synthetic" : "pytorch_torchscript";
  cfg.version = build::kVersion;
  cfg.any_input_shape = synthetic;
  cfg.serving = nlohmann::json{{"model", rec.model},
                               {"device", rec.device},
                               {"policy", policy->spec()},
                               {"meter", rec.meter},
                               {"backend", facts}}
                    .dump();
  ImagePreprocessor images;
  std::atomic<bool> ready{false};
  serve::HttpServer server(cfg, *loop, registry, metrics, images, ready);
  std::atomic<bool> stop_asked{false};
  SignalWaiter waiter([&](int) {
    stop_asked = true;
    server.stop();
  });
  std::thread io([&server] { server.run(); });
  std::fprintf(stdout, "%s",
               fmt::format("greenbatch serve: {} ({}) on {}, policy {}, listening on http://{}:{}/v2/models/{}\n",
                           name, rec.model, rec.device, policy->spec(), o.host, server.port(), name)
                   .c_str());
  std::fflush(stdout);

  std::string error;
  try {
    loop->wait_prelude();
    server.set_classes(probe.width);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (error.empty()) {
    if (live) live->start();
    else meter->start(loop->now());
    rec.started_utc = utc_now_iso8601();
    ready = true;
    if (!stop_asked) std::fprintf(stdout, "greenbatch serve: ready\n");
    std::fflush(stdout);
  } else {
    server.stop();
  }
  io.join();
  waiter.finish();
  loop->close();
  if (live) live->stop();  // its last snapshot taken before the meter's window closes
  if (!error.empty()) throw UserError(fmt::format("the model could not be warmed up: {}", error));

  // The server's lifetime as one run: admissions are the arrivals, the batches as they ran.
  // Past the loop's record limit, arrivals and batches cover the first items only (its memory is
  // bounded); the energy window and its images are still the whole lifetime.
  RunResult result;
  result.arrivals = loop->arrivals();
  result.batches = loop->batches();
  const serve::InferenceLoop::Activity activity = loop->activity();
  result.energy = meter->stop(loop->now(), result.batches, activity.items_done);
  if (loop->record_truncated()) {
    result.energy.warnings.push_back(fmt::format(
        "the server ran {} inferences; its record keeps the first {} (latency and batch figures, busy and peak "
        "power, and a modelled meter's busy energy cover those; a sensor's energy covers all)",
        activity.items_done, result.completed()));
  }
  rec.requests = result.arrivals.size();
  rec.offered_rate_hz = offered_rate_hz(result.arrivals);
  rec.backend["serve"] = {{"host", o.host},
                          {"port", server.port()},
                          {"name", name},
                          {"max_queue", o.max_queue},
                          {"max_body", o.max_body},
                          {"max_items", o.max_items},
                          {"inferences", activity.items_done},
                          {"batches", activity.batches},
                          {"recorded_inferences", result.completed()}};
  if (!result.arrivals.empty()) rec.summary = summarize(result);
  result.energy.trace.clear();
  rec.energy = result.energy;
  if (!carbon.empty()) {
    apply_carbon(rec, carbon,
                 std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  append_line_durable(jsonl, rec.to_json().dump());
  print_record(rec, o.out_dir);
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* sub = app.add_subcommand(
      "serve", "Serve a model over the Open Inference Protocol (KServe v2, HTTP/1.1) with a batching policy; live "
               "metrics at /metrics; on SIGTERM or SIGINT, answer what was accepted and append the server's "
               "lifetime to DIR/runs.jsonl");
  add_model_options(sub, o->spec);
  sub->add_option("--policy", o->spec.policy, "Batching policy: fixed:N, greedy[:CAP], timeout:N:D, adaptive:p99=D[,...], aimd:p99=D[,...]")
      ->capture_default_str();
  add_meter_options(sub, o->spec, o->idle_window);
  sub->add_option("--host", o->host, "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)")
      ->capture_default_str();
  add_whole(sub, "--port", o->port, "TCP port (0: any free port, printed at start)", 0, 65535);
  add_whole(sub, "--max-queue", o->max_queue,
            "Items that may wait for a batch; a request that would pass it is refused at once (503)", 1,
            limits::kMaxRequests);
  add_whole(sub, "--max-body", o->max_body, "Largest request body in bytes (more: 413)", 1, std::size_t{1} << 32);
  add_whole(sub, "--max-items", o->max_items, "Most images in one request (more: 413)", 1, kMaxPolicyBatch * 64);
  sub->add_option("--name", o->name,
                  "Name the model is served under (default: synthetic, the model's NAME, or the file's stem)");
  sub->add_option("--out", o->out_dir, "Results folder: the server's lifetime record is appended to runs.jsonl")
      ->capture_default_str();
  sub->callback([&action, o] { action = [o] { return do_serve(*o); }; });
}

}  // namespace greenbatch::cli
