#pragma once
// What the report and recommend read: runs from greenbatch's runs.jsonl files and from the
// study's published result files, in one shape, and their configurations averaged over
// repetitions. Pure data; no drawing here.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "batching/policy.hpp"  // policy_label, policy_order: marks and order of policies
#include "engine/run_record.hpp"

namespace greenbatch::report {

inline constexpr const char* kStudySource = "study (SEAA 2023)";
inline constexpr const char* kStudyDevice = "GTX 1080 (the study's)";
inline constexpr std::size_t kStudyRequests = 8192;

struct Run {
  std::string source;  // "greenbatch", "greenbatch (simulated)" or kStudySource
  std::string file;    // where it was read
  std::string model;   // catalog key when known (alexnet, ...), else the name as recorded
  std::string device, host, started_utc, arrivals;
  std::string policy;  // fixed:16, greedy:128, timeout:8:100ms
  std::string label;   // the mark on the figures: 16, 32, G, T8/100ms
  Knobs knobs;         // the numeric path's (core/knobs.hpp); the study's: the defaults
  bool estimated = false;  // its energy is an estimate from CPU time (--meter estimate), not measured
  // Runs with knobs: their outputs against fp32's on the shipped images (the record's
  // backend.agreement): the share of images with the same top-1 class, the largest logit gap.
  std::optional<double> top1_agreement, max_logit_diff;
  double rate_hz = 0;
  double avg_batch = 0;
  int repetition = 0;
  std::size_t requests = 0;
  std::optional<double> energy_j;   // per image, the whole window (idle included)
  std::optional<double> dynamic_j;  // per image, idle power times the window subtracted
  std::optional<double> carbon_g;   // gCO2e per image: the record's, or from report's --carbon-intensity
  std::string carbon_source;        // the intensity it came from
  double window_s = 0;              // the energy window (for an intensity that changes with time)
  std::optional<double> lat_max_s, lat_p99_s, lat_mean_s, lat_p50_s, lat_p90_s, lat_p95_s;
  std::optional<double> avg_power_w, peak_power_w;
  std::optional<double> service_mean_s;  // the mean time of a batch
  std::string meter;
  std::string power_trace;  // a power trace file, when the run wrote one
  std::vector<WindowSummary> windows;  // a load that changes: its 10 s windows (else none)
  std::string error;        // non-empty: the run failed or was cut short
};

// One greenbatch runs.jsonl record.
Run run_from_record(const RunRecord& record, const std::string& file);

// One of the study's files (seven columns; the name MODEL_fRATE gives model and rate). Throws
// UserError naming the file and line when it does not have that shape.
std::vector<Run> read_study_file(const std::string& path);

// True when PATH looks like one of the study's files: a name MODEL_fRATE and the study's header.
bool is_study_file(const std::string& path);

// The study's model names mapped to the catalog's keys (AlexNet -> alexnet, ...).
std::string study_model_key(const std::string& name);

struct Loaded {
  std::vector<Run> runs;
  std::vector<std::string> files;  // every file read
  std::size_t skipped_lines = 0;   // runs.jsonl lines that did not parse (cut-off writes)
  std::size_t served = 0;          // greenbatch serve's lifetime records: not replays, left out
};

// Every runs.jsonl and every study file below each folder (or the file itself), recursively.
// Throws UserError for a path that does not exist, or when nothing is found.
Loaded load(const std::vector<std::string>& paths);

// A value over repetitions: its mean and the 95 % CI half-width (0 with one repetition).
struct Stat {
  double mean = 0, ci = 0;
  std::size_t n = 0;
  double sd = 0;  // standard deviation (0 with one repetition)
};

// One configuration: source, model, device, arrivals, rate, policy, knobs and requests per run,
// over its repetitions.
struct Config {
  std::string source, model, device, arrivals, policy, label, meter;
  Knobs knobs;
  bool estimated = false;  // energy estimated from CPU time: never compared with measured figures
  std::optional<double> top1_agreement, max_logit_diff;  // the lowest and the largest over its runs
  double rate_hz = 0;
  std::size_t requests = 0;  // per run
  double avg_batch = 0;
  std::size_t runs = 0, failed = 0;
  std::optional<Stat> energy_j, dynamic_j, carbon_g, lat_max_s, lat_p99_s, lat_mean_s, lat_p50_s, lat_p90_s, lat_p95_s, peak_power_w,
      avg_power_w, service_mean_s;
  bool greedy() const { return policy.rfind("greedy", 0) == 0; }
  // The batch size a fixed policy names (0 for others).
  int fixed_size() const;
};

// Gives runs with energy but no carbon figure of their own one from `ci` over their window (a
// series needs the run's start time: the study's files have none). Returns how many runs got one.
std::size_t apply_carbon(std::vector<Run>& runs, const CarbonIntensity& ci);

// Configurations in a stable order: source, model, device, arrivals, rate, then policy by batch
// size (fixed sizes ascending, then greedy, then timeouts), then knobs. Failed runs count in
// `failed` only.
std::vector<Config> aggregate(const std::vector<Run>& runs);

}  // namespace greenbatch::report
