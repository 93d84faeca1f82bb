// greenbatch summarize DIR: per configuration, the mean, standard deviation and 95 % confidence
// interval over repetitions of energy per image and of each latency figure.
#include <fmt/format.h>

#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "io/records.hpp"

namespace greenbatch::cli {

namespace {

struct SummarizeOptions {
  std::vector<std::string> dirs;
  bool json = false;
};

// Each figure of a record; nullopt where the record has none (energy not measured).
using Figure = std::optional<double> (*)(const RunRecord&);
const std::vector<std::pair<std::string, Figure>> kMetrics = {
    {"energy_per_image_j", [](const RunRecord& r) { return r.energy ? r.energy->per_image_j : std::nullopt; }},
    {"latency_mean_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.mean); }},
    {"latency_p50_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.p50); }},
    {"latency_p90_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.p90); }},
    {"latency_p95_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.p95); }},
    {"latency_p99_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.p99); }},
    {"latency_max_s", [](const RunRecord& r) { return std::optional(r.summary->latency_s.max); }},
};

int do_summarize(const SummarizeOptions& o) {
  // Configuration: everything but the repetition and its seed.
  std::map<std::string, std::vector<RunRecord>> groups;
  std::vector<std::string> order;
  std::size_t records = 0;
  for (const std::string& dir : o.dirs) {
    for (RunRecord& r : read_results(dir, true)) {
      ++records;
      if (!r.complete()) continue;  // complete: it has a summary
      const std::string key = fmt::format("{} | {} | {:g}/s {} | {} | {} requests", r.model, r.device, r.rate_hz,
                                          r.arrivals, r.policy, r.requests);
      if (!groups.contains(key)) order.push_back(key);
      groups[key].push_back(std::move(r));
    }
  }
  if (records == 0) throw UserError("summarize: no runs.jsonl records found under the given folder(s)");
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& key : order) {
    const auto& rs = groups[key];
    nlohmann::json g = {{"configuration", key}, {"repetitions", rs.size()}};
    for (const auto& [name, figure] : kMetrics) {
      std::vector<double> xs;
      for (const RunRecord& r : rs) {
        if (const auto v = figure(r)) xs.push_back(*v);
      }
      if (xs.empty()) {
        g[name] = nullptr;
        continue;
      }
      g[name] = {{"n", xs.size()}, {"mean", mean(xs)}, {"std", stddev(xs)}, {"ci95", ci95_half_width(xs)}};
    }
    out.push_back(g);
  }
  if (o.json) {
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  auto cell = [](const nlohmann::json& m, double scale, const char* unit) {
    if (m.is_null()) return std::string("n/a");
    return fmt::format("{:.4g} ± {:.2g} {}", m["mean"].get<double>() * scale, m["ci95"].get<double>() * scale, unit);
  };
  fmt::print("mean ± half-width of the 95 % confidence interval over repetitions (Student's t)\n");
  for (const auto& g : out) {
    fmt::print("{} (n={})\n", g["configuration"].get<std::string>(), g["repetitions"].get<std::size_t>());
    fmt::print("    energy {}   latency mean {}  p50 {}  p99 {}  max {}\n", cell(g["energy_per_image_j"], 1, "J/image"),
               cell(g["latency_mean_s"], 1e3, "ms"), cell(g["latency_p50_s"], 1e3, "ms"),
               cell(g["latency_p99_s"], 1e3, "ms"), cell(g["latency_max_s"], 1e3, "ms"));
  }
  return 0;
}

}  // namespace

void add_summarize_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SummarizeOptions>();
  CLI::App* sub = app.add_subcommand("summarize", "Mean, standard deviation and 95 % CI over repetitions, per configuration");
  sub->add_option("dirs", o->dirs, "Result folders (searched recursively for runs.jsonl)")->required();
  sub->add_flag("--json", o->json, "Print JSON (every latency figure, std and CI)");
  sub->callback([&action, o] { action = [o] { return do_summarize(*o); }; });
}

}  // namespace greenbatch::cli
