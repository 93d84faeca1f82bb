#include "report/recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
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

}  // namespace

std::vector<Recommendation> recommend(const std::vector<Config>& configs, const Slo& slo, double min_agreement) {
  std::vector<std::vector<const Config*>> groups;
  for (const Config& c : configs) {
    const auto key = [](const Config& x) { return std::make_tuple(x.source, x.model, x.device, x.arrivals, x.rate_hz); };
    if (groups.empty() || key(*groups.back().front()) != key(c)) groups.emplace_back();
    groups.back().push_back(&c);
  }
  std::vector<Recommendation> out;
  for (const auto& group : groups) {
    const Config& first = *group.front();
    Recommendation r;
    std::tie(r.source, r.model, r.device, r.arrivals, r.rate_hz) =
        std::tie(first.source, first.model, first.device, first.arrivals, first.rate_hz);
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
    if (!ok.empty()) r.best = ok[0];
    if (ok.size() > 1) r.runner_up = ok[1];
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
            {"runs", c->runs}};
  };
  nlohmann::json out = nlohmann::json::array();
  for (const Recommendation& r : recs) {
    out.push_back({{"source", r.source},
                   {"model", r.model},
                   {"device", r.device},
                   {"arrivals", r.arrivals},
                   {"rate_hz", r.rate_hz},
                   {"slo", slo.text},
                   {"best", cfg(r.best)},
                   {"runner_up", cfg(r.runner_up)},
                   {"greedy", cfg(r.greedy)},
                   {"saving_vs_greedy_pct", r.saving_vs_greedy_pct ? nlohmann::json(*r.saving_vs_greedy_pct) : nlohmann::json(nullptr)},
                   {"study_rule", {{"direction", r.rule_direction.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.rule_direction)},
                                   {"pick", cfg(r.rule_pick)},
                                   {"differs", r.differs}}},
                   {"note", r.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.note)}});
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
