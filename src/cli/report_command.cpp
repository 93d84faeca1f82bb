// greenbatch report DIR... --out report.html: the study's figures (and more) from any results.
// greenbatch recommend DIR... --slo max=1s: the policy to run under a latency target.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "build_info.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "io/results.hpp"
#include "report/catalog.hpp"
#include "report/html.hpp"
#include "report/recommend.hpp"

namespace greenbatch::cli {

namespace {

struct ReportOptions {
  std::vector<std::string> dirs;
  std::string out = "report.html";
  std::string catalog;
  std::string slo = "max=1s";
  bool json = false;
};

report::Catalog catalog_for(const ReportOptions& o, std::string* used) {
  *used = o.catalog.empty() ? report::default_catalog_path() : o.catalog;
  if (used->empty()) return {};
  if (!std::filesystem::exists(*used)) throw UserError(fmt::format("--catalog '{}': no such file", *used));
  return report::load_catalog(*used);
}

int do_report(const ReportOptions& o) {
  check_writable_file(o.out, "--out", /*create_folder=*/false);  // before reading anything
  report::ReportInput in;
  in.inputs = o.dirs;
  in.loaded = report::load(o.dirs);
  in.configs = report::aggregate(in.loaded.runs);
  in.catalog = catalog_for(o, &in.catalog_path);
  in.generated_utc = utc_now_iso8601();
  in.tool_version = fmt::format("{} ({})", build::kVersion, build::kGitRev);
  const std::string html = report::render_report(in);
  // Written whole to OUT.tmp and renamed into place; the temporary file goes on every exit path.
  const TempFile tmp(o.out + ".tmp");
  {
    std::ofstream f(tmp.path(), std::ios::binary);
    if (!f) throw UserError(fmt::format("--out '{}': cannot write there", o.out));
    f << html;
    if (!f.flush()) throw UserError(fmt::format("--out '{}': writing failed", o.out));
  }
  std::error_code ec;
  std::filesystem::rename(tmp.path(), o.out, ec);
  if (ec) throw UserError(fmt::format("--out '{}': cannot write there: {}", o.out, ec.message()));
  std::printf("%s", fmt::format("report: {} runs in {} configurations from {} file(s) -> {} ({} KiB)\n",
                                in.loaded.runs.size(), in.configs.size(), in.loaded.files.size(), o.out,
                                html.size() / 1024).c_str());
  return 0;
}

std::string policy_cell(const report::Config* c, report::Latency metric) {
  if (!c) return "–";
  const auto l = report::latency_of(*c, metric);
  return fmt::format("{} ({:.4g} J, {})", c->policy, c->energy_j->mean, l ? format_duration_s(l->mean) : "?");
}

int do_recommend(const ReportOptions& o) {
  const LatencyTarget slo = parse_latency_target(o.slo, "--slo");
  const auto loaded = report::load(o.dirs);
  const auto configs = report::aggregate(loaded.runs);
  const auto recs = report::recommend(configs, slo);
  if (o.json) {
    std::printf("%s\n", report::to_json(recs, slo).dump(2).c_str());
    return 0;
  }
  std::string catalog_path;
  ReportOptions quiet = o;
  const report::Catalog catalog = catalog_for(quiet, &catalog_path);
  std::printf("%s", fmt::format("Lowest energy per image with {} latency at most {} (policy (J/image, latency)):\n\n",
                                latency_name(slo.figure), format_duration_s(slo.limit_s())).c_str());
  std::string last;
  for (const auto& r : recs) {
    const std::string head = fmt::format("{} · {} · {} arrivals", r.source, r.device, r.arrivals);
    if (head != last) {
      std::printf("%s\n", head.c_str());
      last = head;
    }
    std::string line = fmt::format("  {:<20} {:>6}: ", report::display_name(catalog, r.model), fmt::format("{:g}/s", r.rate_hz));
    if (r.best) {
      line += "best " + policy_cell(r.best, slo.figure);
      if (r.best == r.greedy) line += " (greedy itself)";
      else if (r.saving_vs_greedy_pct) line += fmt::format(", {:+.1f} % energy vs greedy", -*r.saving_vs_greedy_pct);
      if (r.runner_up) line += "; runner-up " + policy_cell(r.runner_up, slo.figure);
    } else {
      line += r.note;
    }
    if (!r.rule_direction.empty()) {
      line += fmt::format("\n  {:<28}study's rule ({}): {}{}", "", r.rule_direction,
                          r.rule_pick ? r.rule_pick->policy : "no fixed size meets the target",
                          r.differs ? "  <- differs" : (r.best ? "  (same)" : ""));
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace

void add_report_commands(CLI::App& app, Action& action) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* rep = app.add_subcommand(
      "report", "Write one self-contained HTML report with the study's figures from result folders (ours and the study's files)");
  rep->add_option("dirs", o->dirs, "Folders (searched recursively for runs.jsonl and the study's MODEL_fRATE files) or files")
      ->required();
  rep->add_option("--out", o->out, "The HTML file to write")->capture_default_str();
  rep->add_option("--catalog", o->catalog, "Model catalog (default: data/models.toml, found from here or the executable)");
  rep->callback([&action, o] { action = [o] { return do_report(*o); }; });

  CLI::App* rec = app.add_subcommand("recommend", "The lowest-energy batching policy that meets a latency target, per model and rate");
  rec->add_option("dirs", o->dirs, "Result folders or files, as for report")->required();
  rec->add_option("--slo", o->slo, "Latency target: p50|p90|p95|p99|max|mean=DURATION")->capture_default_str();
  rec->add_flag("--json", o->json, "Print JSON");
  rec->add_option("--catalog", o->catalog, "Model catalog, for display names");
  rec->callback([&action, o] { action = [o] { return do_recommend(*o); }; });
}

}  // namespace greenbatch::cli
