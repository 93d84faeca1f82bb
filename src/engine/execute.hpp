#pragma once
// One run from its specification: parse every part (all errors before anything runs), build
// the schedule, run the engine, summarise. The CLI and later the sweep call this.
#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/carbon.hpp"
#include "core/choices.hpp"
#include "core/knobs.hpp"
#include "engine/engine.hpp"
#include "engine/run_record.hpp"
#include "engine/summary.hpp"

namespace greenbatch {

struct RunSpec {
  std::string model = "synthetic";
  double rate_hz = 64;
  std::string arrivals = "constant";
  std::string policy = "greedy:128";
  std::size_t requests = 8192;
  bool requests_given = false;  // with a trace, the default is the whole trace
  std::uint64_t seed = 1;
  std::string meter = "auto";
  TimeNs idle_window_ns = 5 * kNsPerS;  // idle power measured before the run (real sensors)
  ClockKind clock = ClockKind::kReal;
  // Real networks (TorchScript).
  std::string device = "cpu";
  int threads = 0;
  bool graph_optimize = false;
  Preprocess preprocess = Preprocess::kCached;
  // Worker threads preparing requests as they arrive (per-request preprocessing): -1 chooses
  // (TorchScriptOptions::preprocess_threads), 0 prepares each batch's requests in the batch.
  int preprocess_threads = -1;
  // LibTorch's freed host memory: cached keeps it in the process for the next batch, system
  // leaves glibc's defaults (see TorchScriptOptions::host_memory).
  HostMemory host_memory = HostMemory::kCached;
  // The numeric path: precision, memory format, CUDA graphs, the GPU's power limit.
  Knobs knobs;
  std::string models_dir = "models";
  std::string images_dir = "data/images";
  std::size_t warmup_batches = 256;
  std::size_t warmup_batch_size = 32;
  // gCO2e per kWh, or a CSV time series of it (core/carbon.hpp); empty: no carbon figure.
  std::string carbon_intensity;
};

// The backend `spec` names (model, device, threads, preprocessing, host memory), loaded, not
// warmed up; synthetic models run on `clock`. Throws UserError when it cannot be loaded.
// PreparedRun and greenbatch serve use it.
std::unique_ptr<Backend> make_backend(const RunSpec& spec, Clock& clock);

struct ArrivalSpec;
// Every number of a run within its bound (core/units.hpp's limits): requests, rate and the
// schedule's length, warm-up, threads, idle window, a synthetic model's service times. Throws
// UserError naming the flag and the bound. PreparedRun calls it; a sweep's plan may call it
// before the first run.
void check_run_spec(const RunSpec& spec, const ArrivalSpec& arrivals);

// What a run gives: its record (what runs.jsonl holds) and the engine's raw result (the
// scheduled arrivals and the batches, for the per-request CSV and the power trace).
struct RunOutcome {
  RunRecord record;
  RunResult result;
};

// A loaded model and its clock, kept across runs (a sweep loads each model once and warms it
// up once).
struct RunSession {
  RunSession();
  ~RunSession();
  std::unique_ptr<Clock> clock;
  std::unique_ptr<Backend> backend;
  std::string identity;  // model, device and backend options it was loaded with
  bool warmed_up = false;
  // Unloads the model (the next run loads it again), e.g. after it failed to load or warm up.
  void reset();
};

// A run prepared and validated, ready to execute; lets callers check output files between
// validation and the (possibly long) run.
class PreparedRun {
 public:
  // Throws UserError on any bad part. With a session, reuses its model when it matches.
  explicit PreparedRun(const RunSpec& spec, RunSession* session = nullptr);
  // Stop the run early (Ctrl-C) when *flag becomes true.
  void set_cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }
  ~PreparedRun();
  PreparedRun(const PreparedRun&) = delete;
  PreparedRun& operator=(const PreparedRun&) = delete;
  const RunRecord& header() const { return header_; }
  // Replaces the arrival schedule (ascending times in ns, the first at 0, not empty): for
  // measurements that need arrivals no arrival process gives, such as the profile's bursts.
  void set_schedule(std::vector<TimeNs> schedule);
  // Warms the backend up (real networks), then runs and summarises. A run stopped by the cancel
  // flag has result.interrupted set (its record is not meant to be written).
  RunOutcome execute();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
  RunRecord header_;
  TimeNs idle_window_ns_ = 0;
  std::optional<double> power_limit_w_;  // --power-limit: set on this GPU for execute()
  std::string power_limit_uuid_;
  unsigned power_limit_index_ = 0;
  const std::atomic<bool>* cancel_ = nullptr;
  CarbonIntensity carbon_;  // --carbon-intensity, read before the run
};

}  // namespace greenbatch
