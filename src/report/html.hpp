#pragma once
// The report: one self-contained HTML file (inline SVG and CSS, no scripts, no network).
#include <string>
#include <vector>

#include "report/catalog.hpp"
#include "report/recommend.hpp"
#include "report/runs.hpp"

namespace greenbatch::report {

struct ReportInput {
  Loaded loaded;
  std::vector<Config> configs;
  Catalog catalog;
  std::string catalog_path;
  std::vector<std::string> inputs;  // the folders given
  std::string generated_utc, tool_version;
  // Section 11: the recommendation under `slo` over `configs` (pointers into them).
  LatencyTarget slo;
  std::vector<Recommendation> recommendations;
};

// A power trace found for a run: its samples and batches.
struct Trace {
  const Run* run = nullptr;
  std::string path;
  std::vector<double> t_s, power_w, instant_w;
  std::vector<std::pair<double, double>> batches;  // start, end (s)
};

// The power-trace file of a run (as recorded, else beside its runs.jsonl), read by
// read_power_trace; nullopt when absent. Throws UserError when the file is not a power trace.
std::optional<Trace> load_trace(const Run& run);

std::string render_report(const ReportInput& in);

}  // namespace greenbatch::report
