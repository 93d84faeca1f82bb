#include "report/html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "core/latency_target.hpp"
#include "core/units.hpp"
#include "io/results.hpp"
#include "report/figures.hpp"
#include "report/svg.hpp"

namespace greenbatch::report {

namespace fs = std::filesystem;

namespace {

std::string esc(const std::string& s) { return xml_escape(s); }

std::string num(std::optional<double> v, int digits = 4) {
  return v ? fmt::format("{:.{}g}", *v, digits) : std::string("–");
}

std::string with_ci(const std::optional<Stat>& s, int digits = 4) {
  if (!s) return "–";
  if (s->n > 1 && s->ci > 0) return fmt::format("{:.{}g} ± {:.2g}", s->mean, digits, s->ci);
  return fmt::format("{:.{}g}", s->mean, digits);
}

// Rates of a million per second and more are the back-to-back runs (every request waiting).
std::string rate_text(double r) { return r >= 1e6 ? std::string("all at once") : fmt::format("{:g}/s", r); }

// One colour per rate, the same in every figure.
struct RateColours {
  std::vector<double> rates;
  explicit RateColours(const std::vector<Config>& configs) {
    std::set<double> s;
    for (const Config& c : configs) s.insert(c.rate_hz);
    rates.assign(s.begin(), s.end());
  }
  const std::string& operator()(double rate) const {
    return palette(static_cast<std::size_t>(std::lower_bound(rates.begin(), rates.end(), rate) - rates.begin()));
  }
};

// Fig. 2 (and its p99 variant): one row per model, low rates left, high rates right.
std::string energy_latency_section(const ReportInput& in, const RateColours& colour, Latency latency) {
  const auto panels = energy_latency_panels(in.configs, latency);
  std::string h;
  if (panels.empty()) {
    return "<p class=\"note\">No results carry a " + std::string(latency_name(latency)) +
           " latency together with an energy figure.</p>\n";
  }
  std::string last;
  for (const Panel& p : panels) {
    const std::string row = p.source + p.model + p.device + p.arrivals;
    if (row != last) {
      if (!last.empty()) h += "</div>\n";
      h += "<div class=\"row\">\n";
      last = row;
    }
    std::vector<double> xs, ys;
    std::set<double> rates;
    for (const Point& q : p.points) {
      // Intervals widen the axes, but never below zero (latency and energy are positive).
      xs.push_back(std::max(q.x - q.x_ci, q.x / 2));
      xs.push_back(q.x + q.x_ci);
      ys.push_back(std::max(q.y - q.y_ci, q.y / 2));
      ys.push_back(q.y + q.y_ci);
      rates.insert(q.rate_hz);
    }
    Chart c(470, 330, fmt::format("{}: {} rates", display_name(in.catalog, p.model), p.high_rates ? "high" : "low"),
            fit_axis(xs, std::string(latency_name(latency)) + " latency (s)", false, 20),
            fit_axis(ys, "energy per image (J)", false, 20));
    c.note(fmt::format("{} · {} · {}", p.source, p.device, p.arrivals));
    std::vector<std::pair<std::string, std::string>> legend;
    for (double r : rates) legend.push_back({rate_text(r), colour(r)});
    c.legend(legend);
    for (const Point& q : p.points) {
      c.error_bars(q.x, q.y, q.x_ci, q.y_ci, colour(q.rate_hz));
      c.point(q.x, q.y, colour(q.rate_hz),
              fmt::format("{} at {}: {:.4g} J/image, {} latency {:.4g} s", q.label, rate_text(q.rate_hz), q.y,
                          latency_name(latency), q.x));
    }
    for (const Point& q : p.points) c.label(q.x, q.y, q.label, colour(q.rate_hz));
    h += "<figure>" + c.svg() + "</figure>\n";
  }
  h += "</div>\n";
  return h;
}

std::string peak_section(const ReportInput& in) {
  std::string h =
      "<table><tr><th>source</th><th>device</th><th>model</th><th>peak power, small batches (W)</th>"
      "<th>peak power, batch 128 (W)</th><th>difference (W)</th></tr>\n";
  for (const PeakRow& r : peak_power_table(in.configs)) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}{}</td><td>{}</td></tr>\n", esc(r.source),
                     esc(r.device), esc(display_name(in.catalog, r.model)), num(r.small_w), r.small_n > 1 ? fmt::format(" ({} runs)", r.small_n) : "",
                     num(r.large_w), r.large_n > 1 ? fmt::format(" ({} runs)", r.large_n) : "", num(r.difference_w));
  }
  return h + "</table>\n";
}

std::string year_section(const ReportInput& in, const RateColours& colour) {
  std::string h;
  for (const EnergyByYear& f : energy_by_year(in.configs, in.catalog)) {
    std::vector<double> ys;
    std::vector<std::string> names;
    for (const YearRow& r : f.rows) {
      names.push_back(r.year ? fmt::format("{} ({})", r.display, r.year) : r.display + " (year ?)");
      for (const auto& [_, e] : r.energy_by_rate) ys.push_back(e);
    }
    Axis y = fit_axis(ys, "mean energy per image (J)", true, 20);
    if (y.log) y.min = *std::min_element(ys.begin(), ys.end()) / 2;
    Chart c(std::max(640.0, 110.0 * static_cast<double>(f.rows.size()) + 120), 380,
            fmt::format("Energy per image by year of publication · {} · {}", f.source, f.device), Axis{}, y);
    c.set_categories(names);
    std::vector<std::pair<std::string, std::string>> legend;
    for (double r : f.rates) legend.push_back({rate_text(r), colour(r)});
    c.legend(legend);
    for (std::size_t i = 0; i < f.rows.size(); ++i) {
      for (std::size_t k = 0; k < f.rates.size(); ++k) {
        const auto it = f.rows[i].energy_by_rate.find(f.rates[k]);
        if (it == f.rows[i].energy_by_rate.end()) continue;
        c.bar(i, k, f.rates.size(), it->second, colour(f.rates[k]),
              fmt::format("{} at {}: {:.4g} J/image", f.rows[i].display, rate_text(f.rates[k]), it->second));
      }
    }
    h += "<figure>" + c.svg() + "</figure>\n";
  }
  return h;
}

std::string relative_section(const ReportInput& in) {
  std::string h;
  const auto figures = relative_to_alexnet(in.configs, in.catalog);
  if (figures.empty()) return "<p class=\"note\">No source has AlexNet results to compare with.</p>\n";
  for (const RelativeToAlexNet& f : figures) {
    std::vector<double> ys{1.0};
    std::vector<std::string> names;
    for (const RelativeRow& r : f.rows) {
      names.push_back(r.display);
      if (r.top1_rel) ys.push_back(*r.top1_rel);
      if (r.energy_rel) ys.push_back(*r.energy_rel);
    }
    Chart c(std::max(640.0, 100.0 * static_cast<double>(f.rows.size()) + 120), 360,
            fmt::format("Top-1 accuracy and energy per image relative to AlexNet · {} · {}", f.source, f.device), Axis{},
            fit_axis(ys, "relative to AlexNet (×)", true, 20));
    c.set_categories(names);
    c.legend({{"top-1 accuracy", palette(0)}, {"energy per image", palette(3)}});
    c.hline(1.0, "#333");
    for (std::size_t i = 0; i < f.rows.size(); ++i) {
      const RelativeRow& r = f.rows[i];
      if (r.top1_rel) c.bar(i, 0, 2, *r.top1_rel, palette(0), fmt::format("{}: top-1 {:.2f} % ({:.2f}×)", r.display, *r.top1, *r.top1_rel));
      if (r.energy_rel) c.bar(i, 1, 2, *r.energy_rel, palette(3), fmt::format("{}: {:.4g} J/image ({:.2f}×, over {} configurations shared with AlexNet)", r.display, *r.energy_j, *r.energy_rel, r.shared_configs));
    }
    h += "<figure>" + c.svg() + "</figure>\n";
    h += "<table><tr><th>model</th><th>top-1 (%)</th><th>top-1 ×AlexNet</th><th>energy per image (J)</th><th>energy ×AlexNet</th><th>configurations compared</th></tr>\n";
    for (const RelativeRow& r : f.rows) {
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(r.display),
                       num(r.top1), num(r.top1_rel, 3), num(r.energy_j), num(r.energy_rel, 3), r.shared_configs);
    }
    h += "</table>\n";
  }
  return h;
}

std::string pareto_section(const ReportInput& in, const RateColours& colour) {
  const auto fronts = pareto_fronts(in.configs, Latency::kMax);
  std::string h = "<div class=\"row\">\n";
  std::string table = "<table><tr><th>source</th><th>model</th><th>device</th><th>arrivals</th><th>rate</th><th>Pareto-optimal policies, fastest first (max latency s, J/image)</th></tr>\n";
  // One chart per source, model, device and arrivals, every rate in it.
  for (std::size_t i = 0; i < fronts.size();) {
    std::size_t j = i;
    std::vector<double> xs, ys;
    while (j < fronts.size() && std::tie(fronts[j].source, fronts[j].model, fronts[j].device, fronts[j].arrivals) ==
                                    std::tie(fronts[i].source, fronts[i].model, fronts[i].device, fronts[i].arrivals)) {
      for (const Config* c : fronts[j].all) {
        xs.push_back(c->lat_max_s->mean);
        ys.push_back(c->energy_j->mean);
      }
      ++j;
    }
    Chart c(470, 330, "Pareto fronts: " + display_name(in.catalog, fronts[i].model),
            fit_axis(xs, "maximum latency (s)", false, 20), fit_axis(ys, "energy per image (J)", false, 20));
    c.note(fmt::format("{} · {} · {} · hollow: not on the front", fronts[i].source, fronts[i].device, fronts[i].arrivals));
    std::vector<std::pair<std::string, std::string>> legend;
    for (std::size_t k = i; k < j; ++k) legend.push_back({rate_text(fronts[k].rate_hz), colour(fronts[k].rate_hz)});
    c.legend(legend);
    for (std::size_t k = i; k < j; ++k) {
      const Front& f = fronts[k];
      std::vector<std::pair<double, double>> line;
      std::string cells;
      for (const Config* p : f.front) {
        line.push_back({p->lat_max_s->mean, p->energy_j->mean});
        cells += fmt::format("{}{} ({:.3g} s, {:.4g} J)", cells.empty() ? "" : "; ", esc(p->label), p->lat_max_s->mean, p->energy_j->mean);
      }
      c.line(line, colour(f.rate_hz));
      for (const Config* p : f.all) {
        const bool on = std::find(f.front.begin(), f.front.end(), p) != f.front.end();
        c.point(p->lat_max_s->mean, p->energy_j->mean, colour(f.rate_hz),
                fmt::format("{} at {}: {:.4g} J/image, max latency {:.4g} s", p->label, rate_text(f.rate_hz), p->energy_j->mean, p->lat_max_s->mean), !on);
      }
      table += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(f.source),
                           esc(display_name(in.catalog, f.model)), esc(f.device), esc(f.arrivals), rate_text(f.rate_hz), cells);
    }
    for (std::size_t k = i; k < j; ++k) {
      for (const Config* p : fronts[k].front) c.label(p->lat_max_s->mean, p->energy_j->mean, p->label, colour(fronts[k].rate_hz));
    }
    h += "<figure>" + c.svg() + "</figure>\n";
    i = j;
  }
  return h + "</div>\n" + table + "</table>\n";
}

std::string trace_section(const ReportInput& in) {
  std::string h;
  std::size_t shown = 0;
  for (const Run& r : in.loaded.runs) {
    if (r.power_trace.empty()) continue;
    std::optional<Trace> t;
    try {
      t = load_trace(r);
    } catch (const UserError& e) {
      h += fmt::format("<p class=\"note\">The power trace {} of a run in {} could not be read: {}</p>\n", esc(r.power_trace),
                       esc(r.file), esc(e.what()));
      continue;
    }
    if (!t) {
      h += fmt::format("<p class=\"note\">The power trace {} of a run in {} was not found.</p>\n", esc(r.power_trace), esc(r.file));
      continue;
    }
    if (t->t_s.empty()) continue;
    std::vector<double> ys(t->power_w);
    ys.insert(ys.end(), t->instant_w.begin(), t->instant_w.end());
    Axis y = fit_axis(ys, "power (W)", true, 1e9);
    Chart c(960, 320, fmt::format("Power over time: {} · {} · {} at {}", display_name(in.catalog, r.model), r.device, r.policy, rate_text(r.rate_hz)),
            fit_axis(t->t_s, "time since the run's start (s)", true, 1e9), y);
    c.note("shaded: a batch running; averaged power as NVML reports it, and the instant reading");
    c.legend({{"averaged power", palette(0)}, {"instant power", palette(3)}, {"batch running", "#999999"}});
    for (const auto& [a, b] : t->batches) c.span(a, b, "#999999", 0.35);
    std::vector<std::pair<double, double>> avg, inst;
    for (std::size_t i = 0; i < t->t_s.size(); ++i) {
      avg.push_back({t->t_s[i], t->power_w[i]});
      if (i < t->instant_w.size() && std::isfinite(t->instant_w[i])) inst.push_back({t->t_s[i], t->instant_w[i]});
    }
    c.line(avg, palette(0));
    c.line(inst, palette(3), 1.0);
    h += "<figure>" + c.svg() + "</figure>\n";
    if (++shown == 12) break;
  }
  if (h.empty()) {
    h = "<p class=\"note\">No run here has a power trace (<code>greenbatch run --power-trace FILE</code> writes one).</p>\n";
  }
  return h;
}

// The latency target a policy holds (adaptive:p99=200ms, aimd:max=1s), if it names one.
std::optional<LatencyTarget> policy_target(const std::string& policy) {
  if (!policy.starts_with("adaptive:") && !policy.starts_with("aimd:")) return std::nullopt;
  for (const std::string& kv : split_list(policy.substr(policy.find(':') + 1))) {
    if (kv.starts_with("p99=") || kv.starts_with("max=")) {
      try {
        return parse_latency_target(kv);
      } catch (const UserError&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

// Runs of a load that changes (steps:, diurnal:), grouped by model, device, load and source: per
// 10 s window, each policy's p99 beside the target and its average batch beside the rate; and
// the share of windows meeting the target (a learning policy's own; for the others, the
// target of the group's learning policy).
std::string changing_load_section(const ReportInput& in) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::vector<const Run*>> groups;
  for (const Run& r : in.loaded.runs) {
    if (!r.windows.empty() && r.error.empty()) groups[{r.source, r.model, r.device, r.arrivals}].push_back(&r);
  }
  if (groups.empty()) {
    return "<p class=\"note\">No run here had a load that changes (<code>--arrivals steps:...</code> or "
           "<code>diurnal:...</code>).</p>\n";
  }
  std::string h;
  std::size_t shown = 0;
  for (auto& [key, runs] : groups) {
    const auto& [source, model, device, arrivals] = key;
    std::sort(runs.begin(), runs.end(), [](const Run* a, const Run* b) {
      return std::tie(a->policy, a->repetition) < std::tie(b->policy, b->repetition);
    });
    std::optional<LatencyTarget> group_target;
    for (const Run* r : runs) {
      if (!group_target) group_target = policy_target(r->policy);
    }
    std::vector<double> ts, p99s, batches;
    for (const Run* r : runs) {
      for (const WindowSummary& w : r->windows) {
        ts.push_back(w.t_s + 10);
        if (w.requests) p99s.push_back(w.p99_s * 1e3);
        batches.push_back(w.avg_batch);
        batches.push_back(w.rate_hz);
      }
    }
    if (group_target) p99s.push_back(group_target->limit_s() * 1e3);
    ts.push_back(0);
    const std::string what = fmt::format("{} · {} · {} ({})", display_name(in.catalog, model), device, arrivals, source);
    Chart lat(960, 300, "p99 latency per 10 s window: " + what, fit_axis(ts, "time (s)", true, 1e9),
              fit_axis(p99s, "p99 latency (ms)", true, 1e9));
    Chart bat(960, 300, "Average batch per 10 s window, and the arrival rate: " + what,
              fit_axis(ts, "time (s)", true, 1e9), fit_axis(batches, "images per batch; requests/s", true, 1e9));
    std::vector<std::pair<std::string, std::string>> legend;
    for (std::size_t i = 0; i < runs.size(); ++i) legend.push_back({runs[i]->label, palette(i % 8)});
    lat.legend(legend);
    legend.push_back({"arrival rate", "#999999"});
    bat.legend(legend);
    if (group_target) lat.hline(group_target->limit_s() * 1e3, "#cc0000");
    std::string rows;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const Run& r = *runs[i];
      std::vector<std::pair<double, double>> l, b, rate;
      for (const WindowSummary& w : r.windows) {
        if (w.requests) l.push_back({w.t_s + 5, w.p99_s * 1e3});
        b.push_back({w.t_s + 5, w.avg_batch});
        rate.push_back({w.t_s + 5, w.rate_hz});
      }
      lat.line(l, palette(i % 8));
      bat.line(b, palette(i % 8));
      if (i == 0) bat.line(rate, "#999999", 1.5, "4 3");
      const auto target = policy_target(r.policy) ? policy_target(r.policy) : group_target;
      std::string share = "–";
      if (target) {
        std::size_t met = 0, n = 0;
        for (const WindowSummary& w : r.windows) {
          if (!w.requests) continue;
          ++n;
          if (w.p99_s <= target->limit_s()) ++met;
        }
        if (n) share = fmt::format("{}/{} ({:.1f} %) under {}", met, n, 100.0 * static_cast<double>(met) / static_cast<double>(n),
                                   esc(target->text));
      }
      rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(r.label),
                          esc(r.policy), r.repetition,
                          r.energy_j ? fmt::format("{:.4g}", *r.energy_j) : "–",
                          r.lat_p99_s ? format_duration_s(*r.lat_p99_s) : "–", share);
    }
    h += "<figure>" + lat.svg() + "</figure>\n<figure>" + bat.svg() + "</figure>\n";
    h += "<table><tr><th>mark</th><th>policy</th><th>rep</th><th>J/image</th><th>p99 (whole run)</th>"
         "<th>10 s windows meeting the target</th></tr>\n" + rows + "</table>\n";
    if (++shown == 8) break;
  }
  return h;
}

std::string configs_table(const ReportInput& in) {
  std::string h =
      "<table><tr><th>source</th><th>model</th><th>device</th><th>arrivals</th><th>rate</th><th>policy</th><th>knobs</th>"
      "<th>runs</th><th>avg batch</th><th>J/image</th><th>dynamic J/image</th><th>mg CO2e/image</th><th>max latency (s)</th>"
      "<th>p99 latency (s)</th><th>peak W</th></tr>\n";
  for (const Config& c : in.configs) {
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        esc(c.source), esc(display_name(in.catalog, c.model)), esc(c.device + (c.estimated ? " (estimated energy)" : "")),
        esc(c.arrivals), rate_text(c.rate_hz),
        esc(c.policy), esc(c.knobs.label()), c.runs, c.failed ? fmt::format(" (+{} failed)", c.failed) : "",
        c.avg_batch > 0 ? fmt::format("{:.3g}", c.avg_batch) : "–", with_ci(c.energy_j), with_ci(c.dynamic_j),
        with_ci(c.carbon_g ? std::optional<Stat>(Stat{c.carbon_g->mean * 1000, c.carbon_g->ci * 1000, c.carbon_g->n,
                                                      c.carbon_g->sd * 1000})
                           : std::nullopt),
        with_ci(c.lat_max_s), with_ci(c.lat_p99_s), with_ci(c.peak_power_w));
  }
  return h + "</table>\n";
}

// The pick under the latency target per model and rate, and whether it is below the others
// beyond the noise of repeated runs.
std::string recommend_section(const ReportInput& in) {
  if (in.slo.limit_ns <= 0) return "<p class=\"note\">No latency target was given.</p>\n";
  if (in.recommendations.empty()) return "<p class=\"note\">No configurations.</p>\n";
  std::string h =
      "<table><tr><th>source</th><th>model</th><th>device</th><th>arrivals</th><th>rate</th><th>pick</th><th>J/image</th>"
      "<th>latency (s)</th><th>runs</th><th>verdict</th><th>runner-up</th><th>J/image</th><th>study's rule</th></tr>\n";
  const auto name = [](const Config* c) {
    return c->knobs.is_default() ? c->policy : fmt::format("{} [{}]", c->policy, c->knobs.label());
  };
  for (const Recommendation& r : in.recommendations) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td>", esc(r.source),
                     esc(display_name(in.catalog, r.model)), esc(r.device), r.estimated ? " (estimated energy)" : "",
                     esc(r.arrivals), rate_text(r.rate_hz));
    if (!r.best) {
      h += fmt::format("<td colspan=\"8\">{}</td></tr>\n", esc(r.note));
      continue;
    }
    h += fmt::format("<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     esc(name(r.best)), with_ci(r.best->energy_j), with_ci(latency_of(*r.best, in.slo.figure)),
                     r.best->runs, esc(r.verdict.text), r.runner_up ? esc(name(r.runner_up)) : "–",
                     r.runner_up ? with_ci(r.runner_up->energy_j) : "–",
                     r.rule_pick ? esc(r.rule_pick->policy) + (r.differs ? " (differs)" : "") : "–");
  }
  return h + "</table>\n";
}

// The knobs (issue 23): per source, model and device, energy per image and time per batch by
// knob set and fixed batch size, with each knob set's agreement with fp32.
std::string knobs_section(const ReportInput& in) {
  bool any = false;
  for (const Config& c : in.configs) any = any || !c.knobs.is_default();
  if (!any) return "<p class=\"note\">No runs with knobs other than the defaults (fp32, contiguous).</p>\n";
  using Group = std::tuple<std::string, std::string, std::string>;
  std::map<Group, std::map<std::string, std::map<int, const Config*>>> groups;  // -> knobs -> batch size
  std::map<Group, std::set<int>> sizes;
  std::map<std::string, const Config*> knob_of;
  for (const Config& c : in.configs) {
    if (c.fixed_size() == 0 || c.source == kStudySource) continue;
    const Group g{c.source, c.model, c.device};
    auto& cell = groups[g][c.knobs.text()][c.fixed_size()];
    if (!cell || c.rate_hz > cell->rate_hz) cell = &c;  // the highest rate: batches back to back
    sizes[g].insert(c.fixed_size());
    knob_of[c.knobs.text()] = &c;
  }
  std::string h;
  for (const auto& [g, by_knobs] : groups) {
    const auto& [source, model, device] = g;
    h += fmt::format("<h3>{} · {} · {}</h3>\n<table><tr><th>knobs</th><th>top-1 agreement with fp32</th>"
                     "<th>max logit difference</th>",
                     esc(display_name(in.catalog, model)), esc(device), esc(source));
    for (const int b : sizes[g]) h += fmt::format("<th>batch {}: J/image · ms/batch</th>", b);
    h += "</tr>\n";
    for (const auto& [text, by_size] : by_knobs) {
      const Config& any_of = *by_size.begin()->second;
      h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td>", esc(any_of.knobs.label()),
                       any_of.top1_agreement ? fmt::format("{:.0f} %", *any_of.top1_agreement * 100) : "–",
                       any_of.max_logit_diff ? fmt::format("{:.3g}", *any_of.max_logit_diff) : "–");
      for (const int b : sizes[g]) {
        const auto it = by_size.find(b);
        if (it == by_size.end()) {
          h += "<td>–</td>";
          continue;
        }
        const Config& c = *it->second;
        h += fmt::format("<td>{} · {}</td>", c.energy_j ? fmt::format("{:.4g}", c.energy_j->mean) : "–",
                         c.service_mean_s ? fmt::format("{:.1f}", c.service_mean_s->mean * 1e3)
                                          : (c.failed ? std::string("failed") : std::string("–")));
      }
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  return h;
}

// Each configuration measured both in process and through a greenbatch serve (a sweep's serve
// mode): the two paths side by side, and what the server's path adds.
std::string paths_section(const ReportInput& in) {
  const auto key = [](const Config& c) {
    return std::make_tuple(c.model, c.device, c.arrivals, c.rate_hz, c.policy, c.requests, c.meter);
  };
  std::map<decltype(key(in.configs.front())), const Config*> in_process;
  for (const Config& c : in.configs) {
    if (c.source == "greenbatch") in_process[key(c)] = &c;
  }
  const auto diff = [](const std::optional<Stat>& a, const std::optional<Stat>& b) -> std::string {
    if (!a || !b || a->mean == 0) return "–";
    return fmt::format("{:+.1f} %", (b->mean - a->mean) / a->mean * 100);
  };
  std::string rows;
  for (const Config& c : in.configs) {
    if (c.source != "greenbatch (serve)") continue;
    const auto it = in_process.find(key(c));
    if (it == in_process.end()) continue;
    const Config& r = *it->second;
    rows += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{} / {}</td><td>{}</td>"
        "<td>{} / {}</td><td>{}</td></tr>\n",
        esc(display_name(in.catalog, c.model)), esc(c.device), esc(c.arrivals), rate_text(c.rate_hz), esc(c.policy),
        r.avg_batch > 0 ? fmt::format("{:.3g}", r.avg_batch) : "–", c.avg_batch > 0 ? fmt::format("{:.3g}", c.avg_batch) : "–",
        with_ci(r.energy_j), with_ci(c.energy_j), diff(r.energy_j, c.energy_j), with_ci(r.lat_p99_s),
        with_ci(c.lat_p99_s), diff(r.lat_p99_s, c.lat_p99_s));
  }
  if (rows.empty()) {
    return "<p class=\"note\">No configuration here was measured both in process and through greenbatch serve "
           "(<code>greenbatch sweep FILE --set mode=serve</code> runs a file's grid through the server).</p>\n";
  }
  return "<table><tr><th>model</th><th>device</th><th>arrivals</th><th>rate</th><th>policy</th>"
         "<th>avg batch (in process / served)</th><th>J/image (in process / served)</th><th>served vs in process</th>"
         "<th>p99 latency s (in process / served)</th><th>served vs in process</th></tr>\n" +
         rows + "</table>\n";
}

std::string runs_table(const ReportInput& in) {
  std::string h =
      "<table class=\"small\"><tr><th>source</th><th>model</th><th>device</th><th>host</th><th>started (UTC)</th>"
      "<th>rate</th><th>arrivals</th><th>policy</th><th>rep</th><th>requests</th><th>meter</th><th>J/image</th>"
      "<th>max latency (s)</th><th>file</th><th>error</th></tr>\n";
  for (const Run& r : in.loaded.runs) {
    h += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        esc(r.source), esc(r.model), esc(r.device), esc(r.host), esc(r.started_utc), rate_text(r.rate_hz), esc(r.arrivals),
        esc(r.policy), r.repetition, r.requests, esc(r.meter), num(r.energy_j), num(r.lat_max_s), esc(r.file), esc(r.error));
  }
  return h + "</table>\n";
}

std::string machines_table(const ReportInput& in) {
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> m;
  for (const Run& r : in.loaded.runs) ++m[{r.source, r.device, r.host}];
  std::string h = "<table><tr><th>source</th><th>device</th><th>host</th><th>runs</th></tr>\n";
  for (const auto& [k, n] : m) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(std::get<0>(k)), esc(std::get<1>(k)),
                     esc(std::get<2>(k).empty() ? "–" : std::get<2>(k)), n);
  }
  return h + "</table>\n";
}

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1500px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ccc; }
p.note, p.lead { color: #444; max-width: 980px; }
.row { display: flex; flex-wrap: wrap; gap: 8px; }
figure { margin: 4px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
th { background: #f3f3f3; }
table.small { font-size: 11px; }
)";

}  // namespace

std::optional<Trace> load_trace(const Run& run) {
  std::vector<fs::path> candidates = {run.power_trace};
  if (!run.file.empty()) candidates.push_back(fs::path(run.file).parent_path() / fs::path(run.power_trace).filename());
  for (const fs::path& p : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) continue;
    Trace t;
    t.run = &run;
    t.path = p.string();
    const PowerTrace file = read_power_trace(t.path);
    for (const PowerTrace::Sample& s : file.samples) {
      t.t_s.push_back(s.t_s);
      t.power_w.push_back(s.power_w);
      t.instant_w.push_back(s.instant_w);
    }
    for (const PowerTrace::Batch& b : file.batches) t.batches.push_back({b.start_s, b.end_s});
    return t;
  }
  return std::nullopt;
}

std::string render_report(const ReportInput& input) {
  // The figures tell knob sets apart as devices: "cpu [bf16]" is another line than "cpu".
  ReportInput in = input;
  for (Config& c : in.configs) {
    if (!c.knobs.is_default()) c.device += " [" + c.knobs.label() + "]";
    if (c.estimated) c.device += " (estimated energy)";
  }
  const RateColours colour(in.configs);
  std::set<std::string> sources;
  std::size_t failed = 0;
  for (const Run& r : in.loaded.runs) {
    sources.insert(r.source);
    if (!r.error.empty()) ++failed;
  }
  std::string src_list;
  for (const std::string& s : sources) src_list += (src_list.empty() ? "" : ", ") + s;
  std::string inputs;
  for (const std::string& s : in.inputs) inputs += (inputs.empty() ? "" : ", ") + s;

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>greenbatch report</title><style>"
    << kStyle << "</style></head><body>\n";
  h << "<h1>greenbatch report: energy per inference and latency under batching</h1>\n";
  h << fmt::format("<p class=\"lead\">{} runs ({} failed or cut short, kept in the tables, left out of the figures) in {} "
                   "configurations, from {} file(s) under {}. Sources: {}. Generated {} by greenbatch {}.{}{}</p>\n",
                   in.loaded.runs.size(), failed, in.configs.size(), in.loaded.files.size(), esc(inputs), esc(src_list),
                   esc(in.generated_utc), esc(in.tool_version),
                   in.loaded.skipped_lines ? fmt::format(" {} line(s) that did not parse were skipped.", in.loaded.skipped_lines) : "",
                   in.loaded.served ? fmt::format(" {} server lifetime record(s) (greenbatch serve) are not replays and were left out.", in.loaded.served) : "");
  if (sources.contains(kStudySource)) {
    h << "<p class=\"note\">The study's files (SEAA 2023, GTX 1080) give energy as the average power sampled every 10 ms "
         "times the run's time, over 8192 requests at a constant rate, and the response time from arrival to completion "
         "(its maximum and mean). They have no percentiles, so they are absent from the p99 figures.</p>\n";
  }
  h << "<h2>Machines</h2>\n" << machines_table(in);
  h << "<h2>1. Energy per image against maximum latency</h2>\n<p class=\"note\">One mark per batching policy: 16, 32, 64, "
       "128 are fixed batch sizes, G greedy (everything waiting, up to its cap), T a timeout policy (size/delay). One "
       "colour per request rate; low rates (up to 32/s) left, high rates right, as in the study's Fig. 2. Energy per "
       "image is the whole window's energy (idle included) divided by the images. Bars: 95 % confidence intervals over "
       "repetitions.</p>\n"
    << energy_latency_section(in, colour, Latency::kMax);
  h << "<h2>1b. Energy per image against p99 latency</h2>\n" << energy_latency_section(in, colour, Latency::kP99);
  h << "<h2>2. Peak power at small and large batches</h2>\n<p class=\"note\">As the study's Table I: the highest power "
       "seen while batches ran, averaged over the rates, for runs whose average batch held 1 to 2 images and for runs "
       "of batch 128.</p>\n"
    << peak_section(in);
  h << "<h2>3. Energy per image by year of publication</h2>\n<p class=\"note\">Mean over every policy at each rate, "
       "models in order of publication (data/models.toml), as the study's Fig. 3.</p>\n"
    << (in.catalog.empty() ? "<p class=\"note\">No model catalog was found (--catalog data/models.toml): models are in name order.</p>\n" : "")
    << year_section(in, colour);
  h << "<h2>4. Accuracy and energy relative to AlexNet</h2>\n<p class=\"note\">As the study's Fig. 4: top-1 ImageNet "
       "accuracy of each model's torchvision weights (data/models.toml) and its energy per image, both divided by "
       "AlexNet's; energy over the configurations both ran.</p>\n"
    << relative_section(in);
  h << "<h2>5. Energy/latency Pareto fronts</h2>\n<p class=\"note\">Per rate, the policies that no other beats on both "
       "energy per image and maximum latency: the only ones worth choosing among.</p>\n"
    << pareto_section(in, colour);
  h << "<h2>6. Power over time</h2>\n" << trace_section(in);
  h << "<h2>7. In process and through a server</h2>\n<p class=\"note\">The same configuration (model, device, "
       "arrivals, rate, policy, requests, meter) run in greenbatch's process and through a greenbatch serve driven "
       "by greenbatch load over HTTP on the same machine (a sweep's serve mode): what the serving path adds.</p>\n"
    << paths_section(in);
  h << "<h2>8. Configurations and runs</h2>\n<p class=\"note\">Means over repetitions, ± the 95 % confidence "
       "interval's half-width where there are several.</p>\n"
    << configs_table(input) << "<h3>Every run</h3>\n" << runs_table(in);
  h << "<h2>9. Loads that change</h2>\n<p class=\"note\">Runs whose arrival rate changes with time (steps:, "
       "diurnal:), by 10 s window of scheduled arrival: latency against the target and the batch size against the "
       "rate, per policy.</p>\n"
    << changing_load_section(in);
  h << "<h2>10. Knobs</h2>\n<p class=\"note\">Runs with knobs (precision, memory format, CUDA graphs, power limit): "
       "energy per image and mean time per batch for each fixed batch size (at the highest rate run), per knob set, "
       "with how far its outputs are from fp32's on the shipped images.</p>\n"
    << knobs_section(input);
  h << fmt::format("<h2>11. Which policy, beyond the noise</h2>\n<p class=\"note\">Per model and rate, the lowest "
                   "energy per image whose {} latency is at most {} (greenbatch recommend --slo {}), ± the 95 % "
                   "confidence interval over repetitions. Where the next ones are within the noise of it (Welch's t-test, "
                   "two-sided, 5 % level) they are tied and the lowest latency among them is the pick; with one run per "
                   "configuration the difference is unchecked.</p>\n",
                   latency_name(input.slo.figure), format_duration_s(input.slo.limit_s()), esc(input.slo.text))
    << recommend_section(input);
  h << "</body></html>\n";
  return h.str();
}

}  // namespace greenbatch::report
