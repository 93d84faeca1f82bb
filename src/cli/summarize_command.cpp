// greenbatch summarize DIR: per configuration, the mean, standard deviation and 95 % confidence
// interval over repetitions of energy per image and of each latency figure.
#include <fmt/format.h>

#include <map>
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

const std::vector<std::pair<std::string, std::vector<std::string>>> kMetrics = {
    {"energy_per_image_j", {"energy", "per_image_j"}},
    {"latency_mean_s", {"latency_s", "mean"}},
    {"latency_p50_s", {"latency_s", "p50"}},
    {"latency_p90_s", {"latency_s", "p90"}},
    {"latency_p95_s", {"latency_s", "p95"}},
    {"latency_p99_s", {"latency_s", "p99"}},
    {"latency_max_s", {"latency_s", "max"}},
};

int do_summarize(const SummarizeOptions& o) {
  // Configuration: everything but the repetition and its seed.
  std::map<std::string, std::vector<nlohmann::json>> groups;
  std::vector<std::string> order;
  std::size_t records = 0;
  for (const std::string& dir : o.dirs) {
    for (auto& r : read_results(dir, true)) {
      ++records;
      if (!is_complete(r)) continue;
      const std::string key =
          fmt::format("{} | {} | {:g}/s {} | {} | {} requests", r.value("model", "?"), r.value("device", "?"),
                      r.value("rate_hz", 0.0), r.value("arrivals", "?"), r.value("policy", "?"), r.value("requests", 0));
      if (!groups.contains(key)) order.push_back(key);
      groups[key].push_back(std::move(r));
    }
  }
  if (records == 0) throw UserError("summarize: no runs.jsonl records found under the given folder(s)");
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& key : order) {
    const auto& rs = groups[key];
    nlohmann::json g = {{"configuration", key}, {"repetitions", rs.size()}};
    for (const auto& [name, path] : kMetrics) {
      std::vector<double> xs;
      for (const auto& r : rs) {
        const nlohmann::json* v = &r;
        for (const std::string& k : path) v = v->contains(k) ? &(*v)[k] : nullptr;
        if (v && v->is_number()) xs.push_back(v->get<double>());
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
