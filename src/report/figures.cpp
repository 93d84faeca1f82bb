#include "report/figures.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/stats.hpp"

namespace greenbatch::report {

namespace {

// The key of a group of configurations that share a source, model, device and arrivals.
auto group_key(const Config& c) { return std::make_tuple(c.source, c.model, c.device, c.arrivals); }

int year_of(const Catalog& catalog, const std::string& model) {
  const auto it = catalog.find(model);
  return it == catalog.end() ? 0 : it->second.year;
}

// Models in order of publication (unknown years last), then by name.
void sort_by_year(std::vector<std::string>& models, const Catalog& catalog) {
  std::stable_sort(models.begin(), models.end(), [&](const std::string& a, const std::string& b) {
    const int ya = year_of(catalog, a), yb = year_of(catalog, b);
    return std::make_tuple(ya == 0, ya, a) < std::make_tuple(yb == 0, yb, b);
  });
}

}  // namespace

std::optional<Stat> latency_of(const Config& c, Latency l) {
  switch (l) {
    case Latency::kMax: return c.lat_max_s;
    case Latency::kP99: return c.lat_p99_s;
    case Latency::kMean: return c.lat_mean_s;
    case Latency::kP50: return c.lat_p50_s;
    case Latency::kP90: return c.lat_p90_s;
    case Latency::kP95: return c.lat_p95_s;
  }
  return std::nullopt;
}

std::vector<Panel> energy_latency_panels(const std::vector<Config>& configs, Latency latency) {
  std::vector<Panel> panels;
  for (const Config& c : configs) {
    const auto lat = latency_of(c, latency);
    if (!lat || !c.energy_j) continue;
    const bool high = c.rate_hz > kLowRateLimit;
    auto it = std::find_if(panels.begin(), panels.end(), [&](const Panel& p) {
      return std::make_tuple(p.source, p.model, p.device, p.arrivals, p.high_rates) ==
             std::make_tuple(c.source, c.model, c.device, c.arrivals, high);
    });
    if (it == panels.end()) {
      panels.push_back(Panel{c.source, c.model, c.device, c.arrivals, high, {}});
      it = panels.end() - 1;
    }
    it->points.push_back(Point{lat->mean, c.energy_j->mean, lat->ci, c.energy_j->ci, c.label, c.rate_hz});
  }
  return panels;
}

std::vector<PeakRow> peak_power_table(const std::vector<Config>& configs) {
  std::vector<PeakRow> rows;
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::vector<double>, std::vector<double>>> acc;
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  for (const Config& c : configs) {
    const auto key = std::make_tuple(c.source, c.model, c.device);
    if (!acc.contains(key)) order.push_back(key);
    auto& [small, large] = acc[key];
    if (!c.peak_power_w) continue;
    if (c.avg_batch > 0 && c.avg_batch <= 2) small.push_back(c.peak_power_w->mean);
    if (c.fixed_size() == 128 || (c.fixed_size() == 0 && c.avg_batch >= 120)) large.push_back(c.peak_power_w->mean);
  }
  for (const auto& key : order) {
    const auto& [small, large] = acc[key];
    PeakRow r;
    std::tie(r.source, r.model, r.device) = key;
    r.small_n = small.size();
    r.large_n = large.size();
    if (!small.empty()) r.small_w = mean(small);
    if (!large.empty()) r.large_w = mean(large);
    if (r.small_w && r.large_w) r.difference_w = *r.large_w - *r.small_w;
    rows.push_back(r);
  }
  return rows;
}

std::vector<EnergyByYear> energy_by_year(const std::vector<Config>& configs, const Catalog& catalog) {
  std::vector<EnergyByYear> out;
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::map<double, std::vector<double>>>> acc;
  std::vector<std::pair<std::string, std::string>> order;
  for (const Config& c : configs) {
    if (!c.energy_j) continue;
    const auto key = std::make_pair(c.source, c.device);
    if (!acc.contains(key)) order.push_back(key);
    acc[key][c.model][c.rate_hz].push_back(c.energy_j->mean);
  }
  for (const auto& key : order) {
    EnergyByYear f;
    std::tie(f.source, f.device) = key;
    std::set<double> rates;
    std::vector<std::string> models;
    for (const auto& [model, by_rate] : acc[key]) {
      models.push_back(model);
      for (const auto& [rate, _] : by_rate) rates.insert(rate);
    }
    sort_by_year(models, catalog);
    f.rates.assign(rates.begin(), rates.end());
    for (const std::string& m : models) {
      YearRow row{m, display_name(catalog, m), year_of(catalog, m), {}};
      for (const auto& [rate, values] : acc[key][m]) row.energy_by_rate[rate] = mean(values);
      f.rows.push_back(row);
    }
    out.push_back(f);
  }
  return out;
}

std::vector<RelativeToAlexNet> relative_to_alexnet(const std::vector<Config>& configs, const Catalog& catalog) {
  using Cfg = std::tuple<std::string, double, std::string>;  // arrivals, rate, policy
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::map<Cfg, double>>> acc;
  std::vector<std::pair<std::string, std::string>> order;
  for (const Config& c : configs) {
    if (!c.energy_j) continue;
    const auto key = std::make_pair(c.source, c.device);
    if (!acc.contains(key)) order.push_back(key);
    acc[key][c.model][{c.arrivals, c.rate_hz, c.policy}] = c.energy_j->mean;
  }
  const auto alex_facts = catalog.find("alexnet");
  std::vector<RelativeToAlexNet> out;
  for (const auto& key : order) {
    auto& models = acc[key];
    if (!models.contains("alexnet")) continue;
    const auto& alex = models["alexnet"];
    RelativeToAlexNet f;
    std::tie(f.source, f.device) = key;
    std::vector<std::string> names;
    for (const auto& [m, _] : models) names.push_back(m);
    sort_by_year(names, catalog);
    std::stable_partition(names.begin(), names.end(), [](const std::string& m) { return m == "alexnet"; });
    for (const std::string& m : names) {
      RelativeRow row;
      row.model = m;
      row.display = display_name(catalog, m);
      std::vector<double> mine, theirs;
      for (const auto& [cfg, e] : models[m]) {
        const auto a = alex.find(cfg);
        if (a == alex.end()) continue;
        mine.push_back(e);
        theirs.push_back(a->second);
      }
      row.shared_configs = mine.size();
      if (!mine.empty()) {
        row.energy_j = mean(mine);
        row.energy_rel = mean(mine) / mean(theirs);
      }
      const auto facts = catalog.find(m);
      if (facts != catalog.end() && facts->second.top1) {
        row.top1 = facts->second.top1;
        if (alex_facts != catalog.end() && alex_facts->second.top1) row.top1_rel = *row.top1 / *alex_facts->second.top1;
      }
      f.rows.push_back(row);
    }
    out.push_back(f);
  }
  return out;
}

std::vector<Front> pareto_fronts(const std::vector<Config>& configs, Latency latency) {
  std::vector<Front> out;
  for (const Config& c : configs) {
    if (!c.energy_j || !latency_of(c, latency)) continue;
    if (out.empty() || std::make_tuple(out.back().source, out.back().model, out.back().device, out.back().arrivals,
                                       out.back().rate_hz) != std::tuple_cat(group_key(c), std::make_tuple(c.rate_hz))) {
      out.push_back(Front{c.source, c.model, c.device, c.arrivals, c.rate_hz, {}, {}});
    }
    out.back().all.push_back(&c);
  }
  for (Front& f : out) {
    std::vector<const Config*> by_latency = f.all;
    std::stable_sort(by_latency.begin(), by_latency.end(), [&](const Config* a, const Config* b) {
      const double la = latency_of(*a, latency)->mean, lb = latency_of(*b, latency)->mean;
      return la != lb ? la < lb : a->energy_j->mean < b->energy_j->mean;
    });
    double best = 0;
    for (const Config* c : by_latency) {
      if (f.front.empty() || c->energy_j->mean < best) {
        f.front.push_back(c);
        best = c->energy_j->mean;
      }
    }
  }
  return out;
}

}  // namespace greenbatch::report
