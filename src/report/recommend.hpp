#pragma once
// The policy to run under a latency target: per source, model, device, arrivals and rate, the
// configuration with the lowest energy per image whose latency meets the target, against the
// study's own rule of thumb.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/latency_target.hpp"
#include "core/stats.hpp"
#include "report/figures.hpp"
#include "report/runs.hpp"

namespace greenbatch::report {

// A latency target: core's one grammar (p50|p90|p95|p99|max|mean=DURATION).
using Slo = LatencyTarget;

// A knob set's own best under the target, against the best with the defaults (fp32, contiguous).
struct KnobSaving {
  Knobs knobs;
  const Config* best = nullptr;           // its lowest energy meeting the target (none: none meets it)
  std::optional<double> saving_pct;       // (defaults' best - its best) / defaults' best x 100
  bool excluded = false;                  // its agreement with fp32 is below the tolerance
  std::optional<double> top1_agreement;   // the lowest of its configurations'
};

// Whether the pick's energy is below the others' beyond the noise of repeated runs.
struct Verdict {
  // "clear": the lowest energy is below every other's beyond the noise (Welch's t, two-sided 5 %);
  // "tied": one or more others are within the noise of it, and the tie went to the lowest
  // latency; "unchecked": the lowest or the runner-up ran once, so the noise is unknown; "sole":
  // one configuration meets the target.
  std::string kind;
  const Config* lowest = nullptr;       // the lowest energy meeting the target (best, unless tied)
  std::vector<const Config*> tied;      // tied with the lowest (the best among them excluded)
  std::optional<WelchTest> vs_runner_up;  // the lowest against the next lowest
  bool assumed_noise = false;  // a side ran once: its spread was assumed (--assume-cv), not measured
  std::string text;                     // one sentence for people
};

struct Recommendation {
  std::string source, model, device, arrivals;
  double rate_hz = 0;
  bool estimated = false;  // the energy figures are estimates from CPU time (a group of their own)
  // Across policies and knobs: lowest energy per image meeting the target among the
  // configurations whose top-1 agreement with fp32 is at least the tolerance.
  const Config* best = nullptr;
  // Within the noise of repetitions: where the lowest energy is tied with others (Welch's t), the
  // one of them with the lowest latency (the target's figure).
  const Config* runner_up = nullptr;  // the lowest energy meeting it other than `best`
  Verdict verdict;
  const Config* greedy = nullptr;     // the greedy policy of the group with the default knobs, if it ran
  std::optional<double> saving_vs_greedy_pct;  // (greedy - best) / greedy x 100
  // The study's rule: is the model more efficient at small or large batches (energy of the
  // smallest against the largest fixed size)? Large: lower the batch size from the largest
  // until the target holds. Small: the smallest fixed size if it meets the target, else greedy.
  std::string rule_direction;  // "large batches", "small batches" or "" (fewer than two fixed sizes)
  const Config* rule_pick = nullptr;
  bool differs = false;  // the rule picks another policy than the lowest energy
  std::string note;      // why there is no pick, when there is none
  // Where knob sets other than the defaults ran: each one's best against the defaults' best (the
  // saving of that knob set alone), in the order of the knobs' text.
  std::vector<KnobSaving> knob_savings;
};

// `min_agreement`: the share of the shipped images (0 to 1) whose top-1 class a knob set must
// keep to be chosen (runs at the defaults always may).
// `assumed_cv`: where a configuration ran once, its run-to-run standard deviation taken as this
// share of its mean (0: not assumed; such differences are "unchecked").
std::vector<Recommendation> recommend(const std::vector<Config>& configs, const Slo& slo, double min_agreement = 1.0,
                                      double assumed_cv = 0);

nlohmann::json to_json(const std::vector<Recommendation>& recs, const Slo& slo);

}  // namespace greenbatch::report
