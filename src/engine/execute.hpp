#pragma once
// One run from its specification: parse every part (all errors before anything runs), build
// the schedule, run the engine, summarise. The CLI and later the sweep call this.
#include <cstdint>
#include <memory>
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
  std::string meter = "none";
  std::string clock = "real";  // "real" or "virtual"
};

struct RunRecord {
  // The configuration, normalised.
  std::string model, device, clock, arrivals, policy, meter;
  double rate_hz = 0;
  std::uint64_t seed = 0;
  std::size_t requests = 0;
  // When and where.
  std::string started_utc, host, tool_version, git_rev;
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
  RunRecord execute();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
  RunRecord header_;
};

}  // namespace greenbatch
