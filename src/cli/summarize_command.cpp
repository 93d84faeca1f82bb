// greenbatch summarize DIR: per configuration, the mean, standard deviation and 95 % confidence
// interval over repetitions of energy per image and of each latency figure.
#include <fmt/format.h>

#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "report/runs.hpp"

namespace greenbatch::cli {

namespace {

struct SummarizeOptions {
  std::vector<std::string> dirs;
  bool json = false;
};

// The figures summarised, from the one aggregation the report and recommend use too (which
// keeps real and simulated runs, and each source, apart).
using Figure = std::optional<report::Stat> report::Config::*;
const std::vector<std::pair<std::string, Figure>> kMetrics = {
    {"energy_per_image_j", &report::Config::energy_j}, {"latency_mean_s", &report::Config::lat_mean_s},
    {"latency_p50_s", &report::Config::lat_p50_s},     {"latency_p90_s", &report::Config::lat_p90_s},
    {"latency_p95_s", &report::Config::lat_p95_s},     {"latency_p99_s", &report::Config::lat_p99_s},
    {"latency_max_s", &report::Config::lat_max_s},
};

std::string configuration(const report::Config& c) {
  std::string key = fmt::format("{} | {} | {:g}/s {} | {} | {} requests", c.model, c.device, c.rate_hz, c.arrivals,
                                c.policy, c.requests);
  if (c.source != "greenbatch") key += " | " + c.source;  // simulated runs, the study's
  return key;
}

int do_summarize(const SummarizeOptions& o) {
  const report::Loaded loaded = report::load(o.dirs);
  nlohmann::json out = nlohmann::json::array();
  for (const report::Config& c : report::aggregate(loaded.runs)) {
    if (c.runs == 0) continue;  // only failed runs: nothing to summarise
    nlohmann::json g = {{"configuration", configuration(c)}, {"repetitions", c.runs}, {"energy_estimated", c.estimated}};
    for (const auto& [name, figure] : kMetrics) {
      const std::optional<report::Stat>& m = c.*figure;
      if (!m) {
        g[name] = nullptr;
        continue;
      }
      g[name] = {{"n", m->n}, {"mean", m->mean}, {"std", m->sd}, {"ci95", m->ci}};
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
    fmt::print("    energy {}{}   latency mean {}  p50 {}  p99 {}  max {}\n", cell(g["energy_per_image_j"], 1, "J/image"),
               g["energy_estimated"].get<bool>() ? " ESTIMATED" : "",
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
