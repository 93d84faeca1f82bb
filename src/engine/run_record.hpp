#pragma once
// The run record: one line of runs.jsonl. Every writer (run, sweep, simulate, tune --verify)
// and every reader (sweep's resume, merge, summarize, report) goes through RunRecord's
// to_json / from_json, and a run's identity (resuming, merging) is RunRecord::identity(), on
// the plan side too (record_header).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "core/carbon.hpp"
#include "core/knobs.hpp"
#include "core/time.hpp"
#include "energy/meter.hpp"
#include "engine/summary.hpp"

namespace greenbatch {

inline constexpr const char* kRunSchema = "greenbatch.run/1";

struct RunSpec;

// What greenbatch load saw of a server (mode "load"): every request's outcome counted (the
// counts add up to the record's requests), the rate the requests were actually sent at and how
// late their sends were against the schedule.
struct LoadFigures {
  struct Statuses {
    std::size_t s2xx = 0, s4xx = 0, s5xx = 0, other = 0;  // answered, by HTTP status class (other: 1xx, 3xx)
    std::size_t timeout = 0, connection_error = 0;         // not answered
    std::size_t total() const { return s2xx + s4xx + s5xx + other + timeout + connection_error; }
  };
  Statuses statuses;
  std::size_t sent = 0;                      // requests whose bytes went out
  std::optional<double> achieved_rate_hz;    // (sent - 1) / (last send - first send)
  std::optional<LatenessSummary> send_late_s;  // send minus scheduled time, over the sent requests
};

struct RunRecord {
  // The configuration, canonical (record_header).
  std::string model, device, clock, arrivals, policy, meter;
  double rate_hz = 0;                     // the rate asked for (a trace ignores it)
  std::optional<double> offered_rate_hz;  // the schedule's own mean rate: (n - 1) / span
  std::uint64_t seed = 0;
  std::size_t requests = 0;
  std::size_t warmup_batches = 0, warmup_batch_size = 0;
  // "run": a replay of a schedule; "serve": a server's whole lifetime (greenbatch serve), whose
  // arrivals are the requests that came ("served"), rate_hz 0 and offered_rate_hz what came;
  // "load": greenbatch load's replay of a schedule against a server over HTTP (device "remote",
  // policy "server": the server's own, unknown to the client).
  std::string mode = "run";
  // Load records only: the URL loaded, the server's metadata (GET /v2) and what was seen.
  std::string target;
  nlohmann::json server;
  // "serve": the server was a greenbatch serve that a sweep started on this machine for this
  // configuration (model, device and policy known, energy from its own meter); empty: any server.
  std::string via;
  std::optional<LoadFigures> load;
  std::string sweep;   // the experiment's name, for runs of a sweep (empty: none)
  int repetition = 0;  // 0-based
  bool simulated = false;
  std::string profile;  // simulated runs: the profile's path
  // When and where.
  std::string started_utc, host, tool_version, git_rev;
  Knobs knobs;              // the numeric path's knobs (precision, memory format, graphs, power limit)
  nlohmann::json backend;   // the backend's self-description (versions, threads, model facts); null: none
  std::string power_trace;  // the power-trace file written for this run, as given (empty: none)
  // What happened: no summary and no energy for a run that never started (model load, warm-up).
  std::optional<Summary> summary;
  std::optional<Energy> energy;  // its power `trace` is not part of the record
  std::optional<Carbon> carbon;  // the energy in gCO2e, where a carbon intensity was given
  std::string error;             // empty: none

  // True for a run that completed every request without error.
  bool complete() const { return error.empty() && summary && summary->completed == requests; }

  // Model, device, requested rate, arrivals, seed, policy, requests and repetition, in canonical
  // form: two records of the same run of a plan have the same identity. A served record's is
  // its model, device, policy and start time; a load record's its target, model, rate,
  // arrivals, seed, requests, repetition and the server's policy as recorded (a sweep's serve
  // mode: its model, device and policy in place of the target, whose port changes).
  // Then the knobs' text when they are not the defaults (core/knobs.hpp).
  std::string identity() const;
  // The same without the knobs: one configuration of batching across knobs (recommend's pairs).
  std::string identity_without_knobs() const;

  // The runs.jsonl object. Unmeasured figures are null, never zero.
  nlohmann::json to_json() const;
  // Reads records of every version of greenbatch.run/1 (keys added later may be missing).
  // Throws UserError naming the key when a required key (model, device, rate_hz, arrivals,
  // seed, policy, requests) is missing or any key has the wrong type.
  static RunRecord from_json(const nlohmann::json& j);
};

// The names a run is recorded under, as the backends report them: a synthetic spec in its
// canonical form, a model path by its file's stem, a name as is; devices "synthetic" for
// synthetic models, "cuda" as "cuda:0".
std::string canonical_model(const std::string& model);
std::string canonical_device(const std::string& model, const std::string& device);

// The record of a run of `spec` before it runs: the canonical configuration (model, device,
// clock, arrivals, policy, meter as given, rate asked for, seed, requests, warm-up for real
// networks) and the tool and host. The real run starts from it, the plan computes identities
// from it and a run that could not start is recorded with it. Throws UserError on a bad spec.
RunRecord record_header(const RunSpec& spec);

// Sets rec.carbon from its energy (measured or estimated) and the intensity over its window,
// which ended at `end_unix_s`; without energy figures, or where a series does not cover the
// window, no carbon, and a warning in the energy's warnings saying why.
void apply_carbon(RunRecord& rec, const CarbonIntensity& ci, double end_unix_s);

// Sets rec.carbon from its energy (measured or estimated) and the intensity over its window,
// which ended at `end_unix_s`; without energy figures, or where a series does not cover the
// window, no carbon, and a warning in the energy's warnings saying why.
void apply_carbon(RunRecord& rec, const CarbonIntensity& ci, double end_unix_s);

// The mean rate of a schedule (ascending times): (n - 1) / (last - first); none for fewer than
// two arrivals or no span.
std::optional<double> offered_rate_hz(std::span<const TimeNs> schedule);

}  // namespace greenbatch
