#include "sim/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "core/stats.hpp"
#include "io/records.hpp"
#include "io/results.hpp"

namespace greenbatch {

// The line through (x0, y0) and (x1, y1) at x, never below zero.
double line_through(double x0, double y0, double x1, double y1, double x) {
  return std::max(0.0, y0 + (y1 - y0) * (x - x0) / (x1 - x0));
}

namespace {

// Linear interpolation over (batch size, value) points; extrapolated from the nearest two.
double interpolate(const std::vector<std::pair<double, double>>& pts, double x) {
  if (pts.size() == 1) return pts.front().second * x / pts.front().first;  // proportional from one point
  std::size_t i = 1;
  while (i + 1 < pts.size() && pts[i].first < x) ++i;
  return line_through(pts[i - 1].first, pts[i - 1].second, pts[i].first, pts[i].second, x);
}

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
std::optional<double> opt_from(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<double>();
}

// A count: a whole number >= 0 (a negative or fractional one would wrap or be cut silently).
std::size_t whole_at(const nlohmann::json& q, const char* key, const std::string& source) {
  const auto& v = q.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_float() && v.get<double>() >= 0 && v.get<double>() < 1e15 &&
                                   v.get<double>() == std::floor(v.get<double>()))) {
    throw UserError(fmt::format("profile {}: key 'points[].{}': {} is not a whole number >= 0", source, key, v.dump()));
  }
  return v.get<std::size_t>();
}

// Bounds no measurement comes near: beyond them a profile is corrupt, and its figures would
// overflow the simulator's nanoseconds or its joules.
constexpr double kMaxServiceS = 3600;        // one batch for an hour
constexpr double kMaxIdleS = 86400;          // a day of idleness
constexpr double kMaxIdlePowerW = 100'000;  // 100 kW
constexpr double kMaxEnergyJ = 1e9;          // a gigajoule per batch

// Every figure the simulator reads is finite and in range, every distribution sorted and
// non-empty, batch sizes and idle times distinct and ascending. Throws UserError naming the key.
void check_profile(const Profile& p, const std::string& source) {
  const auto bad = [&](const std::string& key, const std::string& what) {
    throw UserError(fmt::format("profile {}: key '{}': {}", source, key, what));
  };
  const auto in_range = [&](const std::string& key, double v, double lo, double hi) {
    if (!std::isfinite(v) || v < lo || v > hi) bad(key, fmt::format("{} is not in [{}, {}]", v, lo, hi));
  };
  if (p.idle_power_w) in_range("idle_power_w", *p.idle_power_w, 0, kMaxIdlePowerW);
  const auto check_quantiles = [&](const std::string& key, const std::vector<double>& q, bool may_be_empty) {
    if (q.empty() && !may_be_empty) bad(key, "no quantiles (accepted: a list of times in seconds, ascending)");
    for (std::size_t i = 0; i < q.size(); ++i) {
      in_range(fmt::format("{}[{}]", key, i), q[i], 0, kMaxServiceS);
      if (i > 0 && q[i] < q[i - 1]) bad(key, fmt::format("not ascending at [{}] ({} after {})", i, q[i], q[i - 1]));
    }
  };
  for (std::size_t i = 0; i < p.points.size(); ++i) {
    const ProfilePoint& pt = p.points[i];
    const std::string at = fmt::format("points[batch_size={}]", pt.batch_size);
    if (pt.batch_size == 0) bad("points[].batch_size", "0 (accepted: 1 or more)");
    if (i > 0 && pt.batch_size == p.points[i - 1].batch_size) bad(at, "batch size measured twice");
    in_range(at + ".service_s.median", pt.service_median_s, 0, kMaxServiceS);
    in_range(at + ".service_s.mean", pt.service_mean_s, 0, kMaxServiceS);
    in_range(at + ".service_s.p10", pt.service_p10_s, 0, kMaxServiceS);
    in_range(at + ".service_s.p90", pt.service_p90_s, 0, kMaxServiceS);
    in_range(at + ".service_s.std", pt.service_std_s, 0, kMaxServiceS);
    in_range(at + ".window_s", pt.window_s, 0, 1e9);
    if (pt.energy_per_batch_j) in_range(at + ".energy_per_batch_j", *pt.energy_per_batch_j, 0, kMaxEnergyJ);
    if (pt.dynamic_energy_per_batch_j) {
      in_range(at + ".dynamic_energy_per_batch_j", *pt.dynamic_energy_per_batch_j, -kMaxEnergyJ, kMaxEnergyJ);
    }
    check_quantiles(at + ".service_quantiles_s.back_to_back", pt.quantiles_s, true);
    for (std::size_t k = 0; k < pt.after_idle.size(); ++k) {
      const auto& a = pt.after_idle[k];
      const std::string key = fmt::format("{}.service_quantiles_s.after_idle[{}]", at, k);
      if (!std::isfinite(a.idle_s) || a.idle_s <= 0 || a.idle_s > kMaxIdleS) {
        bad(key + ".idle_s", fmt::format("{} is not in (0, {}]", a.idle_s, kMaxIdleS));
      }
      if (k > 0 && a.idle_s <= pt.after_idle[k - 1].idle_s) {
        bad(key + ".idle_s", fmt::format("{} after {}: idle times must ascend", a.idle_s, pt.after_idle[k - 1].idle_s));
      }
      check_quantiles(key + ".quantiles_s", a.quantiles_s, false);
    }
  }
}

}  // namespace

double Profile::service_s(std::size_t batch) const {
  std::vector<std::pair<double, double>> pts;
  for (const auto& p : points) pts.emplace_back(static_cast<double>(p.batch_size), p.service_median_s);
  return interpolate(pts, static_cast<double>(batch));
}

double Profile::draw_service_s(std::size_t batch, double idle_s, double u, double pick) const {
  auto at = [u](const std::vector<double>& q) { return percentile_sorted(q, u * 100); };
  const bool after_idle = idle_s > ns_to_s(kBackToBackIdleNs);
  // One point's draw: its back-to-back distribution, or after idleness its after-idle ones.
  auto value = [&](const ProfilePoint& p) {
    double v = p.service_median_s;
    if (!p.quantiles_s.empty()) v = at(p.quantiles_s);
    // Idle for over 1 ms: a step to the after-idle distributions (on the CPU measured, a batch
    // after 5 ms of idleness is already as slow as the shortest measured gap says), then
    // log-time interpolation between the measured idle times.
    const auto& ai = p.after_idle;
    // Measured idle time k, or with the smoothing's weight one of its neighbours.
    auto at_idle = [&](std::size_t k) {
      const double side = idle_smoothing / 2;
      if (pick < side && k > 0) return at(ai[k - 1].quantiles_s);
      if (pick >= 1 - side && k + 1 < ai.size()) return at(ai[k + 1].quantiles_s);
      return at(ai[k].quantiles_s);
    };
    if (!ai.empty() && after_idle) {
      if (idle_s <= ai.front().idle_s || ai.size() == 1) {
        v = at_idle(0);
      } else if (idle_s >= ai.back().idle_s) {
        v = at_idle(ai.size() - 1);
      } else {
        std::size_t k = 1;
        while (ai[k].idle_s < idle_s) ++k;
        const double t = (std::log(idle_s) - std::log(ai[k - 1].idle_s)) / (std::log(ai[k].idle_s) - std::log(ai[k - 1].idle_s));
        v = at_idle(k - 1) + t * (at_idle(k) - at_idle(k - 1));
      }
    }
    return v;
  };
  // interpolate() over every point's draw, evaluating only the two points it reads (no vector): the
  // simulator calls this once per batch, and a tune searches thousands of policies.
  const double x = static_cast<double>(batch);
  if (points.size() == 1) return value(points.front()) * x / static_cast<double>(points.front().batch_size);
  std::size_t i = 1;
  while (i + 1 < points.size() && static_cast<double>(points[i].batch_size) < x) ++i;
  return line_through(static_cast<double>(points[i - 1].batch_size), value(points[i - 1]), static_cast<double>(points[i].batch_size),
              value(points[i]), x);
}

std::optional<double> Profile::dynamic_power_w(std::size_t batch) const {
  std::vector<std::pair<double, double>> pts;
  for (const auto& p : points) {
    if (!p.dynamic_energy_per_batch_j || p.service_mean_s <= 0) return std::nullopt;
    pts.emplace_back(static_cast<double>(p.batch_size), *p.dynamic_energy_per_batch_j / p.service_mean_s);
  }
  if (pts.size() == 1) return pts.front().second;  // power does not scale like energy
  return interpolate(pts, static_cast<double>(batch));
}

nlohmann::json Profile::to_json() const {
  nlohmann::json pts = nlohmann::json::array();
  for (const auto& p : points) {
    nlohmann::json after_idle = nlohmann::json::array();
    for (const auto& a : p.after_idle) after_idle.push_back({{"idle_s", a.idle_s}, {"quantiles_s", a.quantiles_s}});
    pts.push_back({{"batch_size", p.batch_size},
                   {"batches", p.batches},
                   {"service_s",
                    {{"median", p.service_median_s},
                     {"mean", p.service_mean_s},
                     {"p10", p.service_p10_s},
                     {"p90", p.service_p90_s},
                     {"std", p.service_std_s}}},
                   {"energy_per_batch_j", opt(p.energy_per_batch_j)},
                   {"energy_per_image_j",
                    p.energy_per_batch_j ? nlohmann::json(*p.energy_per_batch_j / static_cast<double>(p.batch_size))
                                         : nlohmann::json(nullptr)},
                   {"dynamic_energy_per_batch_j", opt(p.dynamic_energy_per_batch_j)},
                   {"window_s", p.window_s},
                   {"service_quantiles_s", {{"back_to_back", p.quantiles_s}, {"after_idle", after_idle}}}});
  }
  nlohmann::json j = meta;
  j["schema"] = kProfileSchema;
  j["model"] = model;
  j["device"] = device;
  j["meter"] = meter;
  j["idle_power_w"] = opt(idle_power_w);
  j["points"] = pts;
  return j;
}

Profile Profile::from_json(const nlohmann::json& j, const std::string& source) {
  try {
    if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() || j["schema"] != kProfileSchema) {
      throw UserError(fmt::format("profile {}: not a greenbatch profile (schema {} expected)", source, kProfileSchema));
    }
    Profile p;
    p.model = j.at("model");
    p.device = j.at("device");
    p.meter = j.at("meter");
    p.idle_power_w = opt_from(j, "idle_power_w");
    p.meta = j;
    p.meta.erase("points");
    const auto& points = j.at("points");
    if (!points.is_array()) throw UserError(fmt::format("profile {}: key 'points': not a list", source));
    for (const auto& q : points) {
      ProfilePoint pt;
      pt.batch_size = whole_at(q, "batch_size", source);
      pt.batches = whole_at(q, "batches", source);
      const auto& s = q.at("service_s");
      pt.service_median_s = s.at("median");
      pt.service_mean_s = s.at("mean");
      pt.service_p10_s = s.at("p10");
      pt.service_p90_s = s.at("p90");
      pt.service_std_s = s.at("std");
      pt.energy_per_batch_j = opt_from(q, "energy_per_batch_j");
      pt.dynamic_energy_per_batch_j = opt_from(q, "dynamic_energy_per_batch_j");
      pt.window_s = q.at("window_s");
      if (q.contains("service_quantiles_s")) {
        const auto& sq = q["service_quantiles_s"];
        pt.quantiles_s = sq.value("back_to_back", std::vector<double>{});
        const nlohmann::json ai = sq.value("after_idle", nlohmann::json::array());
        if (!ai.empty() && ai.front().is_number()) {  // an older profile: one distribution, its gap beside it
          pt.after_idle = {{q.value("after_idle_gap_s", 0.2), ai.get<std::vector<double>>()}};
        } else {
          for (const auto& a : ai) {
            pt.after_idle.push_back({a.at("idle_s").get<double>(), a.at("quantiles_s").get<std::vector<double>>()});
          }
        }
      }
      p.points.push_back(pt);
    }
    if (p.points.empty()) throw UserError(fmt::format("profile {}: no batch sizes", source));
    std::sort(p.points.begin(), p.points.end(), [](auto& a, auto& b) { return a.batch_size < b.batch_size; });
    check_profile(p, source);
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("profile {}: malformed ({})", source, e.what()));
  }
}

std::optional<Spread> worst_spread(const nlohmann::json& st) {
  std::optional<Spread> w;
  if (!st.is_object()) return w;
  for (const std::string name : {"median", "p90"}) {
    const auto v = st.find(name + "_spread"), at = st.find(name + "_spread_batch_size");
    if (v == st.end() || at == st.end() || !v->is_number() || !at->is_number_unsigned()) continue;
    if (!w || v->get<double>() > w->share) w = Spread{v->get<double>(), at->get<std::size_t>()};
  }
  return w;
}

LoadedProfile load_profile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UserError(fmt::format("--profile {}: is a folder; give the profile file greenbatch profile wrote", path));
  }
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("--profile {}: cannot read the file", path));
  LoadedProfile out{path, {}, std::nullopt};
  Profile& p = out.profile;
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (json_nesting_depth(text) > kMaxJsonDepth) {
    throw UserError(fmt::format("--profile {}: JSON nested deeper than {} levels; a profile is not", path, kMaxJsonDepth));
  }
  try {
    p = Profile::from_json(nlohmann::json::parse(text), path);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
    throw UserError(fmt::format("--profile {}: not JSON ({})", path, e.what()));
  }
  if (p.meta.contains("stability")) {
    if (const auto w = worst_spread(p.meta["stability"]); w && w->share > kStabilityWarnShare) out.unstable = w;
  }
  return out;
}

void write_profile(const std::string& path, const Profile& p) {
  append_line_durable(path + ".tmp", p.to_json().dump(2));
  std::filesystem::rename(path + ".tmp", path);
}

}  // namespace greenbatch

namespace greenbatch {

SizeTable size_table(const Profile& p, std::size_t cap) {
  SizeTable t;
  t.back_to_back_idle_s = ns_to_s(kBackToBackIdleNs);
  constexpr std::size_t kPercentiles = 101;
  // A point's percentiles: as measured, or, for a profile without them, a normal tail through its
  // median and p90.
  const auto percentiles = [](const std::vector<double>& measured, double median, double p90) {
    if (measured.size() == kPercentiles) return measured;
    std::vector<double> q;
    const double z90 = normal_quantile(0.9);
    for (std::size_t i = 0; i < kPercentiles; ++i) {
      const double u = std::clamp(static_cast<double>(i) / 100.0, 0.001, 0.999);
      q.push_back(std::max(0.0, median + normal_quantile(u) / z90 * std::max(0.0, p90 - median)));
    }
    return q;
  };
  // The regimes after idling: the idle times of the point measured after the most of them; each
  // point's figures for one are its measurement nearest in log-time (back to back if it has none).
  const ProfilePoint* most = nullptr;
  for (const auto& q : p.points) {
    if (!most || q.after_idle.size() > most->after_idle.size()) most = &q;
  }
  const std::size_t n_regimes = 1 + (most ? most->after_idle.size() : 0);
  std::vector<std::vector<std::vector<double>>> measured(n_regimes);  // [regime][point]
  for (const auto& q : p.points) {
    const auto b2b = percentiles(q.quantiles_s, q.service_median_s, std::max(q.service_p90_s, q.service_median_s));
    measured[0].push_back(b2b);
    for (std::size_t r = 1; r < n_regimes; ++r) {
      const double want = std::log(most->after_idle[r - 1].idle_s);
      const ProfilePoint::AfterIdle* near = nullptr;
      for (const auto& a : q.after_idle) {
        if (a.quantiles_s.size() == kPercentiles &&
            (!near || std::abs(std::log(a.idle_s) - want) < std::abs(std::log(near->idle_s) - want))) {
          near = &a;
        }
      }
      measured[r].push_back(near ? near->quantiles_s : b2b);
    }
  }
  for (std::size_t r = 0; r < n_regimes; ++r) {
    SizeTable::Regime g{r == 0 ? 0.0 : most->after_idle[r - 1].idle_s, {}};
    for (std::size_t b = 1; b <= cap; ++b) {
      std::vector<double> q;
      for (std::size_t i = 0; i < kPercentiles; ++i) {
        std::vector<std::pair<double, double>> pts;
        for (std::size_t k = 0; k < p.points.size(); ++k) pts.emplace_back(static_cast<double>(p.points[k].batch_size), measured[r][k][i]);
        q.push_back(interpolate(pts, static_cast<double>(b)));
      }
      g.quantiles_s.push_back(std::move(q));
    }
    t.regimes.push_back(std::move(g));
  }
  for (std::size_t b = 1; b <= cap; ++b) {
    const double s = p.service_s(b);
    t.service_s.push_back(s);
    const auto w = p.dynamic_power_w(b);
    t.dynamic_j.push_back(w ? std::optional<double>(*w * s / static_cast<double>(b)) : std::nullopt);
  }
  return t;
}

namespace {

// adaptive:...,profile=FILE reads its profile through this (batching knows no profiles).
const bool kSizeTableReaderInstalled = [] {
  set_size_table_reader([](const std::string& path, std::size_t cap) { return size_table(load_profile(path).profile, cap); });
  return true;
}();

}  // namespace

}  // namespace greenbatch
