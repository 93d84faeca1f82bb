#pragma once
// One load run as a library call: `greenbatch load` and a sweep's serve and target modes share
// it. A seeded schedule sent open loop to an Open Inference Protocol server (client.hpp), summed
// up (summary.hpp) into one run record of mode "load", with energy from this machine's meter or
// from the server's own (--meter server).
#include <atomic>
#include <string>
#include <vector>

#include "engine/run_record.hpp"
#include "load/bodies.hpp"
#include "load/client.hpp"

namespace greenbatch::load {

struct LoadSpec {
  std::string url, model;  // the server (http://HOST:PORT) and the model's name on it
  double rate_hz = 64;
  std::string arrivals = "constant";
  std::size_t requests = 8192;
  bool requests_given = false;  // with a trace, the default is the whole trace
  std::uint64_t seed = 1;
  std::string input = "tensor";  // tensor, jpeg or null (bodies.hpp)
  std::string images_dir = "data/images";
  std::size_t connections = 64;
  TimeNs timeout = 10 * kNsPerS;
  TensorNames names;
  // This machine's meter (auto: NVML's counter of GPU 0, else RAPL, else none; any form run
  // takes), or "server": the energy greenbatch serve's own meter measured (its /metrics).
  std::string meter = "auto";
  TimeNs idle_window = 5 * kNsPerS;
  // What the record says of the server: its batching policy (recorded, not enforced: "server"
  // when unknown), and, for a greenbatch serve a sweep started here (via "serve"), its device,
  // model name and repetition.
  std::string policy = "server";
  std::string via;
  std::string device = "remote";
  std::string record_model;  // the model's name in the record (default: `model`)
  int repetition = 0;
};

// Every accepted input: tensor, jpeg, null.
inline constexpr const char* kLoadInputs = "tensor, jpeg, null";

// The record a run of `spec` will have, before it runs (identity, configuration, tool and host):
// a sweep's plan computes its identities with it. Throws UserError on a bad spec (the URL, the
// arrivals and their bounds, the timeout, the names, the meter, the input).
RunRecord load_header(const LoadSpec& spec);

struct LoadRun {
  RunRecord record;
  std::vector<RequestRecord> requests;  // one per scheduled request, in order
  bool cancelled = false;               // `cancel` was set: the record is not a result
};

// Checks the server (ready, the model ready, GET /v2) and the inputs, measures idle power,
// sends the schedule and sums it up. A server that is down is one UserError, not thousands of
// failed requests. `cancel` (may be null) stops the run within 50 ms.
LoadRun run_load(const LoadSpec& spec, const std::atomic<bool>* cancel = nullptr);

}  // namespace greenbatch::load
