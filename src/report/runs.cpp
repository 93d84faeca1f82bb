#include "report/runs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <tuple>

#include "batching/fixed.hpp"
#include "backends/backend.hpp"
#include "core/error.hpp"
#include "core/stats.hpp"
#include "io/records.hpp"

namespace greenbatch::report {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStudyHeader =
    "Batch Size,Average Power(W),Time(s),Energy(J),Average Wait Time(s),Max Wait Time(s),Average Peak Power (W)";

std::string string_at(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The largest batch size a study row may name (the study's largest is 128).
constexpr double kMaxStudyBatch = 1'000'000;

// "nan" (the study's missing values) gives nothing; anything else must be a number.
std::optional<double> study_number(const std::string& s, const std::string& where) {
  if (s == "nan" || s == "NaN" || s.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw UserError(fmt::format("{}: '{}' is not a number (accepted: a decimal number or nan)", where, s));
}

}  // namespace

std::string study_model_key(const std::string& name) {
  static const std::map<std::string, std::string> keys = {{"AlexNet", "alexnet"},
                                                          {"ConvNeXt", "convnext_base"},
                                                          {"DenseNet", "densenet121"},
                                                          {"ShuffleNetV2", "shufflenet_v2_x0_5"},
                                                          {"VisionTransformer", "vit_b_16"}};
  const auto it = keys.find(name);
  return it == keys.end() ? name : it->second;
}

Run run_from_record(const RunRecord& r, const std::string& file) {
  // Figures that are not finite numbers are left out, as if absent.
  const auto finite = [](std::optional<double> v) { return v && std::isfinite(*v) ? v : std::nullopt; };
  Run run;
  // A load record (greenbatch load against a server) is a replay at a set rate too: kept, apart
  // from the in-process runs (another path to the model): "(serve)" through a greenbatch serve a
  // sweep started for its model and policy, "(load)" through any other server.
  run.source = r.simulated         ? "greenbatch (simulated)"
               : r.mode != "load"  ? "greenbatch"
               : r.via == "serve" ? "greenbatch (serve)"
                                   : "greenbatch (load)";
  run.file = file;
  // A model given by path is named by its file's stem (records of earlier versions' failed runs
  // kept the path).
  run.model = recorded_model_name(r.model);
  run.device = r.device;
  if (r.backend.is_object()) {
    const std::string name = string_at(r.backend, "device_name");
    if (!name.empty() && name != "unknown") run.device = name;
    else if (run.device == "cpu" && !string_at(r.backend, "cpu_model").empty())
      run.device = "CPU: " + string_at(r.backend, "cpu_model");
  }
  run.host = r.host;
  run.started_utc = r.started_utc;
  run.arrivals = r.arrivals;
  run.policy = r.policy;
  run.label = policy_label(run.policy);
  run.knobs = r.knobs;
  if (r.backend.is_object() && r.backend.contains("agreement") && r.backend["agreement"].is_object()) {
    const auto& a = r.backend["agreement"];
    if (a.contains("top1_agreement") && a["top1_agreement"].is_number()) run.top1_agreement = a["top1_agreement"].get<double>();
    if (a.contains("max_abs_logit_diff") && a["max_abs_logit_diff"].is_number()) {
      run.max_logit_diff = a["max_abs_logit_diff"].get<double>();
    }
  }
  // The rate the requests came at: a trace's own (it ignores the rate asked for).
  const bool trace = r.arrivals.starts_with("trace:") && finite(r.offered_rate_hz);
  run.rate_hz = (trace ? finite(r.offered_rate_hz) : finite(r.rate_hz)).value_or(0);
  run.avg_batch = r.summary ? finite(r.summary->avg_batch_size).value_or(0) : 0;
  run.repetition = r.repetition;
  run.requests = r.requests;
  run.meter = r.meter;
  run.power_trace = r.power_trace;
  if (r.summary) run.windows = r.summary->windows;
  if (!r.complete()) run.error = r.error.empty() ? "incomplete run" : r.error;
  if (r.summary && r.summary->completed > 0) {
    run.lat_max_s = finite(r.summary->latency_s.max);
    run.lat_p99_s = finite(r.summary->latency_s.p99);
    run.lat_mean_s = finite(r.summary->latency_s.mean);
    run.lat_p50_s = finite(r.summary->latency_s.p50);
    run.lat_p90_s = finite(r.summary->latency_s.p90);
    run.lat_p95_s = finite(r.summary->latency_s.p95);
    if (r.summary->batches > 0) run.service_mean_s = finite(r.summary->service_s.mean);
  }
  if (r.carbon) {
    run.carbon_g = finite(r.carbon->grams_per_image);
    run.carbon_source = r.carbon->source;
  }
  if (r.energy && r.energy->has_figures()) {
    run.estimated = r.energy->estimated;
    run.window_s = finite(r.energy->window_s).value_or(0);
    run.energy_j = finite(r.energy->per_image_j);
    run.dynamic_j = finite(r.energy->dynamic_per_image_j);
    run.avg_power_w = finite(r.energy->avg_power_w);
    run.peak_power_w = finite(r.energy->peak_power_w);
  }
  return run;
}

bool is_study_file(const std::string& path) {
  static const std::regex name(R"(([A-Za-z0-9]+)_f([0-9]+))");
  if (!std::regex_match(fs::path(path).filename().string(), name)) return false;
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  return header == kStudyHeader;
}

std::vector<Run> read_study_file(const std::string& path) {
  static const std::regex name_re(R"(([A-Za-z0-9]+)_f([0-9]+))");
  static const std::regex greedy_re(R"(Greedy \(([0-9.eE+-]+)\))");
  const std::string name = fs::path(path).filename().string();
  std::smatch m;
  if (!std::regex_match(name, m, name_re)) {
    throw UserError(fmt::format("{}: not a study file name (accepted: MODEL_fRATE, e.g. AlexNet_f16)", path));
  }
  const std::string model = m[1];
  // The rate's digits as a number (a hundred digits would overflow std::stod).
  const std::string rate_text = m[2];
  const double rate = rate_text.size() <= 9 ? std::stod(rate_text) : 0;
  if (rate < 1) {
    throw UserError(fmt::format("{}: rate '{}' in the file name (accepted: MODEL_fRATE, RATE from 1 to 999999999 Hz)",
                                path, rate_text));
  }
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("cannot read {}", path));
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line != kStudyHeader) {
    throw UserError(fmt::format("{}: line 1 is not the study's header (accepted: '{}')", path, kStudyHeader));
  }
  std::vector<Run> runs;
  for (int n = 2; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = fmt::format("{} line {}", path, n);
    const auto f = split_csv(line);
    if (f.size() != 7) throw UserError(fmt::format("{}: {} fields, the study's files have 7", where, f.size()));
    Run r;
    r.source = kStudySource;
    r.file = path;
    r.model = study_model_key(model);
    r.device = kStudyDevice;
    r.arrivals = "constant";
    r.rate_hz = rate;
    r.requests = kStudyRequests;
    r.meter = "nvml-sampled (averaged power, 10 ms)";
    std::smatch g;
    if (f[0] == "-1") {
      r.policy = "greedy:128";
    } else if (std::regex_match(f[0], g, greedy_re)) {
      r.policy = "greedy:128";
      const auto avg = study_number(g[1], where + " (greedy's average batch size)");
      if (!avg || *avg < 1 || *avg > kMaxStudyBatch) {
        throw UserError(fmt::format("{}: '{}': the average batch size must be from 1 to {}", where, f[0], kMaxStudyBatch));
      }
      r.avg_batch = *avg;
    } else {
      const auto size = study_number(f[0], where + " (batch size)");
      if (!size || *size < 1 || *size > kMaxStudyBatch || *size != std::floor(*size)) {
        throw UserError(fmt::format("{}: batch size '{}' (accepted: a whole number from 1 to {}, -1 or 'Greedy (x)')", where,
                                    f[0], kMaxStudyBatch));
      }
      r.policy = fmt::format("fixed:{}", static_cast<int>(*size));
      r.avg_batch = *size;
    }
    r.label = policy_label(r.policy);
    // Measured figures are never negative, and 8192 images never take 0 J.
    const auto measured = [&](const std::string& text, const char* what, bool zero_ok) {
      const auto v = study_number(text, fmt::format("{} ({})", where, what));
      if (v && (*v < 0 || (!zero_ok && *v == 0))) {
        throw UserError(fmt::format("{}: {} '{}' (accepted: a number {} 0, or nan)", where, what, text,
                                    zero_ok ? ">=" : ">"));
      }
      return v;
    };
    r.avg_power_w = measured(f[1], "average power", false);
    r.window_s = measured(f[2], "time", true).value_or(0);
    const auto energy = measured(f[3], "energy", false);
    if (energy) r.energy_j = *energy / static_cast<double>(kStudyRequests);
    r.lat_mean_s = measured(f[4], "average wait", true);
    r.lat_max_s = measured(f[5], "max wait", true);
    r.peak_power_w = measured(f[6], "average peak power", false);
    runs.push_back(std::move(r));
  }
  return runs;
}

Loaded load(const std::vector<std::string>& paths) {
  Loaded out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) throw UserError(fmt::format("{}: no such file or folder", p));
    std::vector<std::string> files;
    if (fs::is_directory(p, ec)) {
      for (auto it = fs::recursive_directory_iterator(p, ec); it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file()) files.push_back(it->path().string());
      }
    } else {
      files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      if (fs::path(f).filename() == "runs.jsonl") {
        for (const RunRecord& rec : read_runs(f, &out.skipped_lines)) {
          // A server's lifetime has no rate or schedule of its own to be compared at; load
          // records (mode "load") are replays at a set rate and are kept.
          if (rec.mode == "serve") ++out.served;
          else out.runs.push_back(run_from_record(rec, f));
        }
        out.files.push_back(f);
      } else if (is_study_file(f)) {
        for (Run& r : read_study_file(f)) out.runs.push_back(std::move(r));
        out.files.push_back(f);
      }
    }
  }
  if (out.runs.empty() && out.served > 0) {
    throw UserError(fmt::format(
        "only server lifetimes found ({} record(s) of greenbatch serve, mode \"serve\"): summarize, report and "
        "recommend compare replays at a set rate (greenbatch run, sweep); a server's figures are in its record "
        "and, live, at its /metrics",
        out.served));
  }
  if (out.runs.empty()) {
    throw UserError("no results found: give folders holding greenbatch's runs.jsonl files or the study's result "
                    "files (MODEL_fRATE, seven columns)");
  }
  return out;
}

int Config::fixed_size() const {
  return policy_kind_of(policy) == &kFixedKind ? static_cast<int>(policy_order(policy).batch) : 0;
}

std::size_t apply_carbon(std::vector<Run>& runs, const CarbonIntensity& ci) {
  std::size_t n = 0;
  for (Run& r : runs) {
    if (r.carbon_g || !r.energy_j) continue;
    std::optional<double> intensity = ci.constant_g_per_kwh;
    if (!intensity && !r.started_utc.empty()) {
      if (const auto start = parse_utc_time(r.started_utc)) intensity = mean_intensity(ci, *start, *start + r.window_s, nullptr);
    }
    if (!intensity) continue;
    r.carbon_g = grams_co2e(*r.energy_j, *intensity);
    r.carbon_source = ci.source;
    ++n;
  }
  return n;
}

std::vector<Config> aggregate(const std::vector<Run>& runs) {
  // Runs of another length are another configuration (a 1024-request run is no repetition of a
  // 2048-request one).
  // Estimated energy is another configuration too: never averaged with measured figures.
  using Key =
      std::tuple<std::string, std::string, std::string, std::string, double, std::string, std::size_t, std::string, bool>;
  std::map<Key, std::vector<const Run*>> groups;
  for (const Run& r : runs) {
    groups[{r.source, r.model, r.device, r.arrivals, r.rate_hz, r.policy, r.requests, r.knobs.text(), r.estimated}]
        .push_back(&r);
  }
  std::vector<Config> out;
  for (const auto& [key, members] : groups) {
    Config c;
    std::string knobs;
    std::tie(c.source, c.model, c.device, c.arrivals, c.rate_hz, c.policy, c.requests, knobs, c.estimated) = key;
    c.knobs = members.front()->knobs;
    c.label = policy_label(c.policy);
    c.meter = members.front()->meter;
    std::vector<const Run*> ok;
    for (const Run* r : members) (r->error.empty() ? ok.push_back(r) : void(++c.failed));
    c.runs = ok.size();
    const auto stat = [&](std::optional<double> Run::*field) -> std::optional<Stat> {
      std::vector<double> xs;
      for (const Run* r : ok) {
        if (r->*field) xs.push_back(*(r->*field));
      }
      if (xs.empty()) return std::nullopt;
      return Stat{mean(xs), ci95_half_width(xs), xs.size(), stddev(xs)};
    };
    std::vector<double> batch;
    for (const Run* r : ok) {
      if (r->avg_batch > 0) batch.push_back(r->avg_batch);
    }
    c.avg_batch = batch.empty() ? 0 : mean(batch);
    c.energy_j = stat(&Run::energy_j);
    c.carbon_g = stat(&Run::carbon_g);
    c.dynamic_j = stat(&Run::dynamic_j);
    c.lat_max_s = stat(&Run::lat_max_s);
    c.lat_p99_s = stat(&Run::lat_p99_s);
    c.lat_mean_s = stat(&Run::lat_mean_s);
    c.lat_p50_s = stat(&Run::lat_p50_s);
    c.lat_p90_s = stat(&Run::lat_p90_s);
    c.lat_p95_s = stat(&Run::lat_p95_s);
    c.peak_power_w = stat(&Run::peak_power_w);
    c.avg_power_w = stat(&Run::avg_power_w);
    c.service_mean_s = stat(&Run::service_mean_s);
    for (const Run* r : ok) {
      if (r->top1_agreement) c.top1_agreement = std::min(c.top1_agreement.value_or(1.0), *r->top1_agreement);
      if (r->max_logit_diff) c.max_logit_diff = std::max(c.max_logit_diff.value_or(0.0), *r->max_logit_diff);
    }
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(), [](const Config& a, const Config& b) {
    const auto key = [](const Config& c) {
      return std::make_tuple(c.source, c.model, c.device, c.estimated, c.arrivals, c.rate_hz, policy_order(c.policy),
                             c.policy, c.requests, c.knobs.text());
    };
    return key(a) < key(b);
  });
  return out;
}

}  // namespace greenbatch::report
