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
  double min_agreement_pct = 100;
  double assume_cv_pct = 0;
  std::string carbon_intensity;  // applied to runs without a carbon figure of their own
  bool json = false;
};

void with_carbon(const ReportOptions& o, std::vector<report::Run>& runs) {
  if (o.carbon_intensity.empty()) return;
  report::apply_carbon(runs, parse_carbon_intensity(o.carbon_intensity));
}

// "12.3 mg CO2e" / "1.2 g CO2e" per image.
std::string grams_text(double g) {
  return g < 1 ? fmt::format("{:.3g} mg CO2e", g * 1000) : fmt::format("{:.3g} g CO2e", g);
}

void check_assume_cv(const ReportOptions& o) {
  if (!(o.assume_cv_pct >= 0 && o.assume_cv_pct <= 100)) {
    throw UserError(fmt::format("--assume-cv {}: must be a percentage from 0 (none assumed) to 100", o.assume_cv_pct));
  }
}

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
  with_carbon(o, in.loaded.runs);
  in.configs = report::aggregate(in.loaded.runs);
  in.catalog = catalog_for(o, &in.catalog_path);
  in.generated_utc = utc_now_iso8601();
  in.tool_version = fmt::format("{} ({})", build::kVersion, build::kGitRev);
  in.slo = parse_latency_target(o.slo, "--slo");
  check_assume_cv(o);
  in.recommendations = report::recommend(in.configs, in.slo, o.min_agreement_pct / 100, o.assume_cv_pct / 100);
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
  const std::string knobs = c->knobs.is_default() ? "" : " [" + c->knobs.label() + "]";
  return fmt::format("{}{} ({:.4g} J{}, {})", c->policy, knobs, c->energy_j->mean,
                     c->carbon_g ? ", " + grams_text(c->carbon_g->mean) : "", l ? format_duration_s(l->mean) : "?");
}

// "bf16: -12.3 % (top-1 100 %); int8: excluded (top-1 67 % < 100 %)": each knob set's own best
// against the defaults' best.
std::string knob_savings_line(const report::Recommendation& r, double min_agreement_pct) {
  std::vector<std::string> parts;
  for (const auto& k : r.knob_savings) {
    const std::string top1 = k.top1_agreement ? fmt::format("top-1 {:.0f} %", *k.top1_agreement * 100) : "";
    std::string part = k.knobs.label() + ": ";
    if (k.excluded) {
      part += fmt::format("excluded ({} < {:g} %)", top1.empty() ? "no agreement recorded" : top1, min_agreement_pct);
    } else if (!k.best) {
      part += "nothing meets the target";
    } else if (k.saving_pct) {
      part += fmt::format("{:+.1f} % energy ({}{})", -*k.saving_pct, k.best->policy, top1.empty() ? "" : ", " + top1);
    } else {
      part += fmt::format("{:.4g} J ({}; no fp32 run meets the target)", k.best->energy_j->mean, k.best->policy);
    }
    parts.push_back(part);
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

int do_recommend(const ReportOptions& o) {
  const LatencyTarget slo = parse_latency_target(o.slo, "--slo");
  auto loaded = report::load(o.dirs);
  with_carbon(o, loaded.runs);
  const auto configs = report::aggregate(loaded.runs);
  if (!(o.min_agreement_pct >= 0 && o.min_agreement_pct <= 100)) {
    throw UserError(fmt::format("--min-agreement {}: must be a percentage from 0 to 100", o.min_agreement_pct));
  }
  check_assume_cv(o);
  const auto recs = report::recommend(configs, slo, o.min_agreement_pct / 100, o.assume_cv_pct / 100);
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
    const std::string head = fmt::format("{} · {} · {} arrivals{}", r.source, r.device, r.arrivals,
                                         r.estimated ? " · ENERGY ESTIMATED from CPU time (no sensor), not measured" : "");
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
      line += fmt::format("\n  {:<28}{}", "", r.verdict.text);
    } else {
      line += r.note;
    }
    if (!r.rule_direction.empty()) {
      line += fmt::format("\n  {:<28}study's rule ({}): {}{}", "", r.rule_direction,
                          r.rule_pick ? r.rule_pick->policy : "no fixed size meets the target",
                          r.differs ? "  <- differs" : (r.best ? "  (same)" : ""));
    }
    if (!r.knob_savings.empty()) {
      line += fmt::format("\n  {:<28}knobs against fp32's best: {}", "", knob_savings_line(r, o.min_agreement_pct));
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
  rep->add_option("--slo", o->slo, "Latency target of section 11's pick (as for recommend)")->capture_default_str();
  rep->add_option("--min-agreement", o->min_agreement_pct, "Knob sets' top-1 agreement for section 11 (as for recommend)")
      ->capture_default_str();
  rep->add_option("--carbon-intensity", o->carbon_intensity,
                  "gCO2e per kWh (or a CSV time series) for runs whose records carry no carbon figure")
      ->capture_default_str();
  rep->add_option("--assume-cv", o->assume_cv_pct, "Section 11's assumed run-to-run noise for single runs (as for recommend)")
      ->capture_default_str();
  rep->callback([&action, o] { action = [o] { return do_report(*o); }; });

  CLI::App* rec = app.add_subcommand(
      "recommend", "The lowest-energy batching policy (and knobs) that meets a latency target, per model and rate");
  rec->add_option("dirs", o->dirs, "Result folders or files, as for report")->required();
  rec->add_option("--slo", o->slo, "Latency target: p50|p90|p95|p99|max|mean=DURATION")->capture_default_str();
  rec->add_option("--min-agreement", o->min_agreement_pct,
                  "Knobs other than fp32 are chosen only when at least this % of the shipped images keep their fp32 "
                  "top-1 class (the record's backend.agreement)")
      ->capture_default_str();
  rec->add_option("--carbon-intensity", o->carbon_intensity,
                  "gCO2e per kWh, or a CSV file of time,intensity rows, for runs whose records carry no carbon figure "
                  "(the study's files: a number only, they have no times): grams of CO2e per image beside the energy")
      ->capture_default_str();
  rec->add_option("--assume-cv", o->assume_cv_pct,
                  "Where a configuration ran once, judge differences under this run-to-run standard deviation (% of "
                  "the mean; a figure from your own repeated runs); 0: such differences are left unchecked")
      ->capture_default_str();
  rec->add_flag("--json", o->json, "Print JSON");
  rec->add_option("--catalog", o->catalog, "Model catalog, for display names");
  rec->callback([&action, o] { action = [o] { return do_recommend(*o); }; });
}

}  // namespace greenbatch::cli
