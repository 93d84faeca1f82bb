#pragma once
// Live metrics for `greenbatch serve` (issue 20, item 4): a registry of counters, gauges and
// histograms rendered in the Prometheus text exposition format 0.0.4 (GET /metrics).
//
// Families are registered once, at start-up, with fixed label names; their children (one per
// combination of label values) are created on first use under the family's mutex and live as
// long as the registry, so a reference to a child stays valid and the hot path is one atomic
// update: a counter's whole increments are an atomic integer, other increments and gauges an
// atomic double (compare-exchange), a histogram's buckets atomic integers and its sum an atomic
// double. Function-backed series (`counter_fn`, `gauge_fn`) are read at scrape time. A series
// that cannot be measured is not registered at all: absent, never zero.
//
// Names are checked at registration against Prometheus' grammar and conventions (base units,
// counters ending in `_total`, no colons, no `__` label names); a violation throws
// std::invalid_argument, as do label values of the wrong count or not UTF-8, a negative counter
// increment and unsorted histogram buckets.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace greenbatch::serve {

// The Content-Type of render()'s text.
inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

// A monotonic count. inc() is a lock-free atomic integer add; inc(v) adds a double (v >= 0).
class alignas(64) Counter {
 public:
  struct Config {};
  explicit Counter(const Config&) {}
  void inc() { whole_.fetch_add(1, std::memory_order_relaxed); }
  // Adds v (finite or +inf, not negative, not NaN: std::invalid_argument).
  void inc(double v);
  double value() const;

 private:
  std::atomic<std::uint64_t> whole_{0};
  std::atomic<double> fraction_{0.0};
};

// A value that goes up and down.
class alignas(64) Gauge {
 public:
  struct Config {};
  explicit Gauge(const Config&) {}
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted in buckets with upper bounds (`le`), plus their sum and count.
class Histogram {
 public:
  struct Config {
    std::vector<double> bounds;  // finite, strictly increasing; +Inf is implicit
  };
  // Refers to config.bounds, which must outlive it (the family's own copy).
  explicit Histogram(const Config& config);
  // Counts v in the first bucket whose bound is >= v (NaN and values above the last bound: the
  // +Inf bucket only) and adds it to the sum.
  void observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  // The count is the sum of the buckets, so it always equals the +Inf bucket; the sum may lag
  // the buckets by observations in flight during the snapshot (exact once they are done).
  Snapshot snapshot() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::span<const double> bounds_;  // the family's, which outlives its children
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  alignas(64) std::atomic<double> sum_{0.0};
};

// What every family has: its name, help, type and label names, and a way to render itself.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends `# HELP`, `# TYPE` and the samples (none for a family without children yet).
  void render(std::string& out) const;

 protected:
  virtual void render_samples(std::string& out) const = 0;

 private:
  std::string name_, help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// Orders label-value lists lexicographically, std::string and std::string_view alike.
struct LabelValuesLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// A family of children of one kind (Counter, Gauge, Histogram), one per label values. Children
// are rendered in the order of their label values.
template <class Child>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         typename Child::Config config);
  // The child for these label values (as many as label names, UTF-8), created on first use.
  // The reference stays valid as long as the registry; keep it on the hot path.
  Child& labels(std::span<const std::string_view> values);
  Child& labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>(values.begin(), values.size()));
  }

 private:
  void render_samples(std::string& out) const override;

  typename Child::Config config_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>, LabelValuesLess> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// All the metrics of one server, rendered in registration order. Not copyable or movable:
// children are referred to by address.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& counter_family(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names, std::vector<double> bounds);
  // Families without labels: their one child, created now.
  Counter& counter(std::string_view name, std::string_view help);
  Gauge& gauge(std::string_view name, std::string_view help);
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds);
  // One series without labels whose value `fn` gives at each scrape (called outside the
  // registry's locks, possibly from several scrapes at once; it must not register metrics).
  // When fn throws, the series is left out of that scrape (HELP and TYPE only): never invented.
  void counter_fn(std::string_view name, std::string_view help, std::function<double()> fn);
  void gauge_fn(std::string_view name, std::string_view help, std::function<double()> fn);

  // The text exposition format 0.0.4 of every family, in registration order.
  std::string render() const;

 private:
  template <class F>
  F& add(std::unique_ptr<F> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::set<std::string, std::less<>> taken_;  // every sample and family name in use
};

// The checks registration applies (std::invalid_argument with the reason), public for tests.
void check_metric_name(std::string_view name, MetricType type);
void check_label_names(std::span<const std::string> label_names, MetricType type);
// Histogram bounds: +Inf at the end is dropped; the rest finite and strictly increasing.
std::vector<double> check_bounds(std::vector<double> bounds);

// Text format pieces, public for tests: a value as it reads back exactly (shortest round trip;
// "+Inf", "-Inf", "NaN"); HELP escaping (\\ and \n); label value escaping (\\, \" and \n).
std::string format_value(double v);
std::string escape_help(std::string_view help);
std::string escape_label_value(std::string_view value);

// ---- greenbatch serve's standard set -------------------------------------------------------

// 100 us to 60 s in 1-2-5 steps (seconds): a null model's sub-millisecond path and a slow
// network's batches under load both spread over several buckets.
std::vector<double> latency_buckets_seconds();
// 1, 2, 4, ..., 128 (requests per batch).
std::vector<double> batch_size_buckets();

// Energy read from the meter at scrape time. Leave the whole struct out with `--meter none`.
struct EnergySources {
  std::function<double()> energy_joules;     // greenbatch_energy_joules_total: since the start
  std::function<double()> power_watts;       // greenbatch_power_watts: current power
  std::function<double()> idle_power_watts;  // greenbatch_idle_power_watts (empty: not exported)
};

struct ServingSources {
  std::function<double()> queue_depth;  // greenbatch_queue_depth: requests waiting (required)
  std::optional<EnergySources> energy;  // nullopt: every energy series absent
};

// The series the server updates. Energy per inference has the labels window ("recent",
// "since_start") and kind ("total", "dynamic"); its children appear when first set (before
// the first batch there is nothing to divide by).
struct ServingMetrics {
  CounterFamily& requests;        // greenbatch_requests_total{model,code}
  CounterFamily& inferences;      // greenbatch_inferences_total{model}
  Histogram& request_duration;    // greenbatch_request_duration_seconds (arrival to response)
  Histogram& queue_wait;          // greenbatch_queue_wait_seconds (arrival to dispatch)
  Histogram& batch_size;          // greenbatch_batch_size
  Counter& batches;               // greenbatch_batches_total
  GaugeFamily* energy_per_inference;  // greenbatch_energy_per_inference_joules; nullptr without energy
};

// Registers the standard set in `registry` (once) and returns what the server updates.
ServingMetrics register_serving_metrics(MetricsRegistry& registry, ServingSources sources);

}  // namespace greenbatch::serve
