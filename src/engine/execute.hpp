#pragma once
// One run from its specification: parse every part (all errors before anything runs), build
// the schedule, run the engine, summarise. The CLI and later the sweep call this.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/engine.hpp"
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
  std::string clock = "real";  // "real" or "virtual"
  // Real networks (TorchScript).
  std::string device = "cpu";
  int threads = 0;
  bool graph_optimize = false;
  std::string preprocess = "cached";
  std::string models_dir = "models";
  std::string images_dir = "data/images";
  std::size_t warmup_batches = 256;
  std::size_t warmup_batch_size = 32;
};

struct RunRecord {
  // The configuration, normalised.
  std::string model, device, clock, arrivals, policy, meter;
  double rate_hz = 0;
  std::uint64_t seed = 0;
  std::size_t requests = 0;
  std::size_t warmup_batches = 0, warmup_batch_size = 0;
  // When and where.
  std::string started_utc, host, tool_version, git_rev;
  nlohmann::json backend;  // the backend's self-description (versions, threads, model facts)
  // What happened.
  RunResult result;
  Summary summary;
};

// A run prepared and validated, ready to execute; lets callers check output files between
// validation and the (possibly long) run.
class PreparedRun {
 public:
  explicit PreparedRun(const RunSpec& spec);  // throws UserError on any bad part
  ~PreparedRun();
  PreparedRun(const PreparedRun&) = delete;
  PreparedRun& operator=(const PreparedRun&) = delete;
  const RunRecord& header() const { return header_; }
  // Warms the backend up (real networks), then runs and summarises.
  RunRecord execute();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
  RunRecord header_;
  TimeNs idle_window_ns_ = 0;
};

}  // namespace greenbatch
