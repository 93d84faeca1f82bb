#include "report/recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch::report {

namespace {

bool meets(const Config& c, const Slo& slo) {
  const auto l = latency_of(c, slo.figure);
  return l && l->mean <= slo.limit_s();
}

bool agrees(const Config& c, double min_agreement) {
  return c.knobs.precision == Precision::kFp32 || (c.top1_agreement && *c.top1_agreement >= min_agreement - 1e-12);
}

// The study's rule, on the runs at the default knobs (the study's own path).
void study_rule(Recommendation& r, const std::vector<const Config*>& group, const Slo& slo) {
  std::vector<const Config*> fixed;
  for (const Config* c : group) {
    if (c->fixed_size() > 0 && c->energy_j && c->knobs.is_default()) fixed.push_back(c);
  }
  std::sort(fixed.begin(), fixed.end(), [](const Config* a, const Config* b) { return a->fixed_size() < b->fixed_size(); });
  if (fixed.size() < 2) return;
  if (fixed.back()->energy_j->mean < fixed.front()->energy_j->mean) {
    r.rule_direction = "large batches";
    for (auto it = fixed.rbegin(); it != fixed.rend(); ++it) {
      if (meets(**it, slo)) {
        r.rule_pick = *it;
        break;
      }
    }
  } else {
    r.rule_direction = "small batches";
    if (meets(*fixed.front(), slo)) r.rule_pick = fixed.front();
    else if (r.greedy && r.greedy->energy_j && meets(*r.greedy, slo)) r.rule_pick = r.greedy;
  }
}

// Welch's t on the repetitions; where either side ran once and `assumed_cv` > 0, the same
// statistic with that side's standard deviation assumed (cv x its mean) and the normal's quantile
// (the assumed spread has no degrees of freedom to lose).
std::optional<WelchTest> compare(const Config& low, const Config& other, double assumed_cv) {
  const Stat& a = *low.energy_j;
  const Stat& b = *other.energy_j;
  if (a.n >= 2 && b.n >= 2) return welch_test(a.mean, a.sd, a.n, b.mean, b.sd, b.n);
  if (!(assumed_cv > 0)) return std::nullopt;
  const auto sd = [&](const Stat& s) { return s.n >= 2 ? s.sd : assumed_cv * s.mean; };
  WelchTest w;
  const double se = std::sqrt(sd(a) * sd(a) / static_cast<double>(a.n) + sd(b) * sd(b) / static_cast<double>(b.n));
  w.t = se > 0 ? (b.mean - a.mean) / se : 0;
  w.dof = std::numeric_limits<double>::infinity();
  w.critical = student_t975(w.dof);
  w.different = std::abs(w.t) > w.critical;
  return w;
}

std::string runs_text(std::size_t n) { return n == 1 ? "1 run" : fmt::format("{} runs", n); }

// `ok`: the configurations meeting the target, by energy (lowest first; at least one).
void decide(Recommendation& r, const std::vector<const Config*>& ok, const Slo& slo, double assumed_cv) {
  Verdict& v = r.verdict;
  const Config* low = ok[0];
  v.lowest = low;
  r.best = low;
  if (ok.size() == 1) {
    v.kind = "sole";
    v.text = "the only configuration meeting the target";
    return;
  }
  v.vs_runner_up = compare(*low, *ok[1], assumed_cv);
  v.assumed_noise = low->energy_j->n < 2 || ok[1]->energy_j->n < 2;
  if (!v.vs_runner_up) {
    v.kind = "unchecked";
    r.runner_up = ok[1];
    v.text = fmt::format("{:.1f} % below the runner-up, unchecked: {} of the lowest, {} of the runner-up; repeat "
                         "the runs (repetitions = 3 in the sweep file) to tell it from the noise, or assume a noise "
                         "(--assume-cv PCT)",
                         (ok[1]->energy_j->mean - low->energy_j->mean) / ok[1]->energy_j->mean * 100,
                         runs_text(low->energy_j->n), runs_text(ok[1]->energy_j->n));
    return;
  }
  std::vector<const Config*> tied = {low};
  for (std::size_t i = 1; i < ok.size(); ++i) {
    const auto w = compare(*low, *ok[i], assumed_cv);
    if (w && !w->different) tied.push_back(ok[i]);
  }
  if (tied.size() == 1) {
    v.kind = "clear";
    r.runner_up = ok[1];
    const double pct = (ok[1]->energy_j->mean - low->energy_j->mean) / ok[1]->energy_j->mean * 100;
    v.text = v.assumed_noise
                 ? fmt::format("below the runner-up beyond the noise: {:.1f} % less energy, z = {:.2f} with an assumed "
                               "run-to-run sd of {:g} % (not measured; |z| > 1.96: different at the 5 % level)",
                               pct, v.vs_runner_up->t, assumed_cv * 100)
                 : fmt::format("below the runner-up beyond the noise: {:.1f} % less energy, Welch's t = {:.2f} "
                               "with {:.1f} degrees of freedom (|t| > {:.2f}: different at the 5 % level)",
                               pct, v.vs_runner_up->t, v.vs_runner_up->dof, v.vs_runner_up->critical);
    return;
  }
  // Tied: the lowest latency among them (then the lower energy) wins.
  const auto latency = [&](const Config* c) {
    const auto l = latency_of(*c, slo.figure);
    return l ? l->mean : std::numeric_limits<double>::infinity();
  };
  const Config* pick = *std::min_element(tied.begin(), tied.end(), [&](const Config* a, const Config* b) {
    return std::make_pair(latency(a), a->energy_j->mean) < std::make_pair(latency(b), b->energy_j->mean);
  });
  r.best = pick;
  for (const Config* c : tied) {
    if (c != pick) v.tied.push_back(c);
  }
  for (const Config* c : ok) {
    if (c != pick) {
      r.runner_up = c;
      break;
    }
  }
  v.kind = "tied";
  std::vector<std::string> names;
  for (const Config* c : tied) names.push_back(c->knobs.is_default() ? c->policy : c->policy + " [" + c->knobs.label() + "]");
  const std::string test =
      v.assumed_noise ? fmt::format("an assumed run-to-run sd of {:g} %, 5 % level", assumed_cv * 100) : "Welch's t, 5 % level";
  v.text = fmt::format("tied within the noise ({}): {}; the lowest {} latency among them chosen", test,
                       fmt::join(names, ", "), latency_name(slo.figure));
}

}  // namespace

std::vector<Recommendation> recommend(const std::vector<Config>& configs, const Slo& slo, double min_agreement,
                                      double assumed_cv) {
  std::vector<std::vector<const Config*>> groups;
  for (const Config& c : configs) {
    const auto key = [](const Config& x) {
      return std::make_tuple(x.source, x.model, x.device, x.estimated, x.arrivals, x.rate_hz);
    };
    if (groups.empty() || key(*groups.back().front()) != key(c)) groups.emplace_back();
    groups.back().push_back(&c);
  }
  std::vector<Recommendation> out;
  for (const auto& group : groups) {
    const Config& first = *group.front();
    Recommendation r;
    std::tie(r.source, r.model, r.device, r.arrivals, r.rate_hz) =
        std::tie(first.source, first.model, first.device, first.arrivals, first.rate_hz);
    r.estimated = first.estimated;
    std::vector<const Config*> ok;
    bool any_latency = false, any_energy = false;
    std::map<std::string, KnobSaving> by_knobs;  // the knob sets other than the defaults
    const Config* defaults_best = nullptr;
    const auto lower = [](const Config* a, const Config* b) { return !b || a->energy_j->mean < b->energy_j->mean; };
    for (const Config* c : group) {
      if (c->energy_j) any_energy = true;
      if (c->greedy() && c->energy_j && !r.greedy && c->knobs.is_default()) r.greedy = c;
      if (latency_of(*c, slo.figure)) any_latency = true;
      const bool eligible = agrees(*c, min_agreement);
      const bool good = c->energy_j && meets(*c, slo);
      if (good && eligible) ok.push_back(c);
      if (c->knobs.is_default()) {
        if (good && lower(c, defaults_best)) defaults_best = c;
        continue;
      }
      KnobSaving& k = by_knobs[c->knobs.text()];
      k.knobs = c->knobs;
      if (c->top1_agreement) k.top1_agreement = std::min(k.top1_agreement.value_or(1.0), *c->top1_agreement);
      if (!eligible) k.excluded = true;
      if (good && lower(c, k.best)) k.best = c;
    }
    std::stable_sort(ok.begin(), ok.end(), [](const Config* a, const Config* b) { return a->energy_j->mean < b->energy_j->mean; });
    if (!ok.empty()) decide(r, ok, slo, assumed_cv);
    for (auto& [text, k] : by_knobs) {
      if (k.best && defaults_best && defaults_best->energy_j->mean > 0) {
        k.saving_pct = (defaults_best->energy_j->mean - k.best->energy_j->mean) / defaults_best->energy_j->mean * 100;
      }
      r.knob_savings.push_back(k);
    }
    if (r.best && r.greedy && r.greedy->energy_j->mean > 0) {
      r.saving_vs_greedy_pct = (r.greedy->energy_j->mean - r.best->energy_j->mean) / r.greedy->energy_j->mean * 100;
    }
    if (!any_energy) {
      r.note = fmt::format("no energy figures in these runs (meter {}: see each record's energy.reason)", first.meter);
    } else if (!any_latency) {
      r.note = fmt::format("these results carry no {} latency{}", latency_name(slo.figure),
                           first.source == kStudySource ? " (the study's files give the maximum and the mean wait)" : "");
    } else if (!r.best) {
      const Config* fastest = nullptr;
      for (const Config* c : group) {
        const auto l = latency_of(*c, slo.figure);
        if (l && (!fastest || l->mean < latency_of(*fastest, slo.figure)->mean)) fastest = c;
      }
      r.note = fmt::format("no policy meets {}; the lowest {} latency is {} ({})", slo.text, latency_name(slo.figure),
                           format_duration_s(latency_of(*fastest, slo.figure)->mean), fastest->policy);
    }
    study_rule(r, group, slo);
    r.differs = r.best && r.rule_pick != r.best;
    out.push_back(r);
  }
  return out;
}

nlohmann::json to_json(const std::vector<Recommendation>& recs, const Slo& slo) {
  const auto cfg = [&](const Config* c) -> nlohmann::json {
    if (!c) return nullptr;
    const auto l = latency_of(*c, slo.figure);
    return {{"policy", c->policy},
            {"knobs", c->knobs.to_json()},
            {"avg_batch_size", c->avg_batch},
            {"energy_per_image_j", c->energy_j->mean},
            {"latency_s", l ? nlohmann::json(l->mean) : nlohmann::json(nullptr)},
            {"runs", c->runs},
            {"carbon_g_per_image", c->carbon_g ? nlohmann::json(c->carbon_g->mean) : nlohmann::json(nullptr)},
            {"energy_per_image_sd_j", c->energy_j->n > 1 ? nlohmann::json(c->energy_j->sd) : nlohmann::json(nullptr)},
            {"energy_per_image_ci95_j", c->energy_j->n > 1 ? nlohmann::json(c->energy_j->ci) : nlohmann::json(nullptr)}};
  };
  nlohmann::json out = nlohmann::json::array();
  for (const Recommendation& r : recs) {
    out.push_back({{"source", r.source},
                   {"model", r.model},
                   {"device", r.device},
                   {"arrivals", r.arrivals},
                   {"rate_hz", r.rate_hz},
                   {"energy_estimated", r.estimated},
                   {"slo", slo.text},
                   {"best", cfg(r.best)},
                   {"runner_up", cfg(r.runner_up)},
                   {"greedy", cfg(r.greedy)},
                   {"saving_vs_greedy_pct", r.saving_vs_greedy_pct ? nlohmann::json(*r.saving_vs_greedy_pct) : nlohmann::json(nullptr)},
                   {"study_rule", {{"direction", r.rule_direction.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.rule_direction)},
                                   {"pick", cfg(r.rule_pick)},
                                   {"differs", r.differs}}},
                   {"note", r.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.note)}});
    if (r.best) {
      const Verdict& v = r.verdict;
      nlohmann::json verdict = {{"kind", v.kind}, {"text", v.text}, {"lowest_energy", cfg(v.lowest)}};
      nlohmann::json tied = nlohmann::json::array();
      for (const Config* c : v.tied) tied.push_back(cfg(c));
      verdict["tied"] = tied;
      if (v.vs_runner_up) {
        verdict["test"] = {{"name", v.assumed_noise ? "z_assumed_sd" : "welch_t"}, {"level", 0.05}, {"t", v.vs_runner_up->t},
                           {"dof", std::isfinite(v.vs_runner_up->dof) ? nlohmann::json(v.vs_runner_up->dof) : nlohmann::json(nullptr)},
                           {"critical", v.vs_runner_up->critical}, {"different", v.vs_runner_up->different}};
      } else {
        verdict["test"] = nullptr;
      }
      out.back()["verdict"] = verdict;
    } else {
      out.back()["verdict"] = nullptr;
    }
    nlohmann::json savings = nlohmann::json::array();
    for (const KnobSaving& k : r.knob_savings) {
      savings.push_back({{"knobs", k.knobs.to_json()},
                         {"best", cfg(k.best)},
                         {"saving_pct", k.saving_pct ? nlohmann::json(*k.saving_pct) : nlohmann::json(nullptr)},
                         {"top1_agreement", k.top1_agreement ? nlohmann::json(*k.top1_agreement) : nlohmann::json(nullptr)},
                         {"excluded", k.excluded}});
    }
    out.back()["knob_savings"] = savings;
  }
  return out;
}

}  // namespace greenbatch::report
