#include "serve/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace greenbatch::serve {

namespace {

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument(what); }

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Units that are not base units, as words of a name: what to use instead.
constexpr std::pair<std::string_view, std::string_view> kNonBaseUnits[] = {
    {"ns", "seconds"},         {"us", "seconds"},        {"ms", "seconds"},
    {"nanoseconds", "seconds"}, {"microseconds", "seconds"}, {"milliseconds", "seconds"},
    {"minutes", "seconds"},    {"hours", "seconds"},     {"days", "seconds"},
    {"millijoules", "joules"}, {"kilojoules", "joules"}, {"wh", "joules"},
    {"kwh", "joules"},         {"milliwatts", "watts"},  {"kilowatts", "watts"},
    {"megawatts", "watts"},    {"kilobytes", "bytes"},   {"megabytes", "bytes"},
    {"gigabytes", "bytes"},    {"percent", "a ratio from 0 to 1"},
};

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // cut short
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += extra + 1;
  }
  return true;
}

// name{l1="v1",l2="v2",le="x"} value
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& label_names, const std::vector<std::string>& values,
                   std::string_view le, std::string_view value) {
  out.append(name).append(suffix);
  if (!label_names.empty() || !le.empty()) {
    out.push_back('{');
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(label_names[i]).append("=\"").append(escape_label_value(values[i])).push_back('"');
    }
    if (!le.empty()) {
      if (!label_names.empty()) out.push_back(',');
      out.append("le=\"").append(le).push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  out.append(value).push_back('\n');
}

// The names a family's samples use, and the one the Python client's parser gives a counter
// family (without `_total`): two families may not share any.
std::vector<std::string> reserved_names(const std::string& name, MetricType type) {
  switch (type) {
    case MetricType::counter: return {name, name.substr(0, name.size() - 6)};
    case MetricType::gauge: return {name};
    case MetricType::histogram: return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
  return {name};
}

// A series whose value a function gives at scrape time.
class FunctionFamily final : public FamilyBase {
 public:
  FunctionFamily(std::string name, std::string help, MetricType type, std::function<double()> fn)
      : FamilyBase(std::move(name), std::move(help), type, {}), fn_(std::move(fn)) {
    if (!fn_) refuse(fmt::format("metric {}: no function given", this->name()));
  }

 private:
  void render_samples(std::string& out) const override {
    double v;
    try {
      v = fn_();
    } catch (...) {
      return;  // left out of this scrape: never invented
    }
    append_sample(out, name(), "", {}, {}, {}, format_value(v));
  }
  std::function<double()> fn_;
};

}  // namespace

// ---- children ------------------------------------------------------------------------------

void Counter::inc(double v) {
  if (!(v >= 0.0)) refuse(fmt::format("counter increment {}: counters only go up", format_value(v)));
  fraction_.fetch_add(v, std::memory_order_relaxed);
}

double Counter::value() const {
  return static_cast<double>(whole_.load(std::memory_order_relaxed)) + fraction_.load(std::memory_order_relaxed);
}

Histogram::Histogram(const Config& config)
    : bounds_(config.bounds), buckets_(new std::atomic<std::uint64_t>[config.bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  const std::size_t i = std::isnan(v) ? bounds_.size()
                                      : static_cast<std::size_t>(
                                            std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- families ------------------------------------------------------------------------------

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {
  check_metric_name(name_, type_);
  check_label_names(label_names_, type_);
  if (!valid_utf8(help_)) refuse(fmt::format("metric {}: help is not UTF-8", name_));
}

void FamilyBase::render(std::string& out) const {
  out.append("# HELP ").append(name_).append(" ").append(escape_help(help_)).push_back('\n');
  out.append("# TYPE ").append(name_).append(" ").append(type_name(type_)).push_back('\n');
  render_samples(out);
}

template <class Child>
Family<Child>::Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
                      typename Child::Config config)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)), config_(std::move(config)) {}

template <class Child>
Child& Family<Child>::labels(std::span<const std::string_view> values) {
  if (values.size() != label_names().size())
    refuse(fmt::format("metric {}: {} label values given, {} expected ({})", name(), values.size(),
                       label_names().size(), fmt::join(label_names(), ", ")));
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  for (const auto v : values)
    if (!valid_utf8(v)) refuse(fmt::format("metric {}: a label value is not UTF-8", name()));
  std::vector<std::string> key(values.begin(), values.end());
  auto child = std::make_unique<Child>(config_);
  Child& ref = *child;
  children_.emplace(std::move(key), std::move(child));
  return ref;
}

template <class Child>
void Family<Child>::render_samples(std::string& out) const {
  // The children's addresses are stable and never removed: read them outside the lock.
  std::vector<std::pair<const std::vector<std::string>*, const Child*>> children;
  {
    std::lock_guard lock(mu_);
    children.reserve(children_.size());
    for (const auto& [key, child] : children_) children.emplace_back(&key, child.get());
  }
  for (const auto& [key, child] : children) {
    if constexpr (std::is_same_v<Child, Histogram>) {
      const auto snap = child->snapshot();
      const auto bounds = child->bounds();
      for (std::size_t i = 0; i < bounds.size(); ++i)
        append_sample(out, name(), "_bucket", label_names(), *key, format_value(bounds[i]),
                      fmt::format("{}", snap.cumulative[i]));
      append_sample(out, name(), "_bucket", label_names(), *key, "+Inf", fmt::format("{}", snap.count));
      append_sample(out, name(), "_sum", label_names(), *key, {}, format_value(snap.sum));
      append_sample(out, name(), "_count", label_names(), *key, {}, fmt::format("{}", snap.count));
    } else {
      append_sample(out, name(), "", label_names(), *key, {}, format_value(child->value()));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- registry ------------------------------------------------------------------------------

template <class F>
F& MetricsRegistry::add(std::unique_ptr<F> family) {
  const auto names = reserved_names(family->name(), family->type());
  std::lock_guard lock(mu_);
  for (const auto& n : names)
    if (taken_.count(n)) refuse(fmt::format("metric {}: the name {} is already in use", family->name(), n));
  taken_.insert(names.begin(), names.end());
  F& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                               std::vector<std::string> label_names) {
  return add(std::make_unique<CounterFamily>(std::string(name), std::string(help), MetricType::counter,
                                             std::move(label_names), Counter::Config{}));
}

GaugeFamily& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                           std::vector<std::string> label_names) {
  return add(std::make_unique<GaugeFamily>(std::string(name), std::string(help), MetricType::gauge,
                                           std::move(label_names), Gauge::Config{}));
}

HistogramFamily& MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                   std::vector<std::string> label_names, std::vector<double> bounds) {
  return add(std::make_unique<HistogramFamily>(std::string(name), std::string(help), MetricType::histogram,
                                               std::move(label_names), Histogram::Config{check_bounds(std::move(bounds))}));
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help) {
  return counter_family(name, help, {}).labels({});
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help) {
  return gauge_family(name, help, {}).labels({});
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds) {
  return histogram_family(name, help, {}, std::move(bounds)).labels({});
}

void MetricsRegistry::counter_fn(std::string_view name, std::string_view help, std::function<double()> fn) {
  add(std::make_unique<FunctionFamily>(std::string(name), std::string(help), MetricType::counter, std::move(fn)));
}

void MetricsRegistry::gauge_fn(std::string_view name, std::string_view help, std::function<double()> fn) {
  add(std::make_unique<FunctionFamily>(std::string(name), std::string(help), MetricType::gauge, std::move(fn)));
}

std::string MetricsRegistry::render() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  for (const auto* f : families) f->render(out);
  return out;
}

// ---- checks and text -----------------------------------------------------------------------

void check_metric_name(std::string_view name, MetricType type) {
  const auto what = [&](std::string_view why) {
    return fmt::format("metric name '{}' ({}): {}", name, type_name(type), why);
  };
  if (name.empty()) refuse(what("empty"));
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(is_letter(c) || c == '_' || c == ':' || (i > 0 && is_digit(c))))
      refuse(what("not a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  if (name.find(':') != std::string_view::npos)
    refuse(what("colons are reserved for recording rules, not for instrumentation"));
  if (name.starts_with("__")) refuse(what("names starting with __ are reserved"));
  const bool total = name.ends_with("_total");
  if (type == MetricType::counter && (!total || name.size() == 6)) refuse(what("a counter's name ends in _total"));
  if (type != MetricType::counter && total) refuse(what("only a counter's name ends in _total"));
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto end = std::min(name.find('_', start), name.size());
    const auto word = name.substr(start, end - start);
    for (const auto& [unit, base] : kNonBaseUnits)
      if (word == unit) refuse(what(fmt::format("'{}' is not a base unit: use {}", unit, base)));
    start = end + 1;
  }
}

void check_label_names(std::span<const std::string> label_names, MetricType type) {
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const auto& l = label_names[i];
    const auto what = [&](std::string_view why) { return fmt::format("label name '{}': {}", l, why); };
    if (l.empty()) refuse(what("empty"));
    for (std::size_t k = 0; k < l.size(); ++k)
      if (!(is_letter(l[k]) || l[k] == '_' || (k > 0 && is_digit(l[k]))))
        refuse(what("not a label name: [a-zA-Z_][a-zA-Z0-9_]*"));
    if (l.starts_with("__")) refuse(what("names starting with __ are reserved"));
    if (type == MetricType::histogram && l == "le") refuse(what("a histogram's bucket label"));
    for (std::size_t k = 0; k < i; ++k)
      if (label_names[k] == l) refuse(what("given twice"));
  }
}

std::vector<double> check_bounds(std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == INFINITY) bounds.pop_back();
  if (bounds.empty()) refuse("histogram: no finite bucket bound");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) refuse(fmt::format("histogram bound {}: not finite", format_value(bounds[i])));
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      refuse(fmt::format("histogram bounds {} then {}: not increasing", format_value(bounds[i - 1]),
                         format_value(bounds[i])));
  }
  return bounds;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);  // the shortest text that reads back as v
}

namespace {
// Backslashes and new lines escaped, and double quotes when `quotes`.
std::string escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}
}  // namespace

std::string escape_help(std::string_view help) { return escape(help, false); }

std::string escape_label_value(std::string_view value) { return escape(value, true); }

// ---- the standard set ----------------------------------------------------------------------

std::vector<double> latency_buckets_seconds() {
  return {0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
          0.1,    0.2,    0.5,    1,     2,     5,     10,   20,   60};
}

std::vector<double> batch_size_buckets() { return {1, 2, 4, 8, 16, 32, 64, 128}; }

ServingMetrics register_serving_metrics(MetricsRegistry& registry, ServingSources sources) {
  if (!sources.queue_depth) refuse("serving metrics: no queue depth function");
  if (sources.energy && (!sources.energy->energy_joules || !sources.energy->power_watts))
    refuse("serving metrics: energy without an energy or a power function");
  ServingMetrics m{
      registry.counter_family("greenbatch_requests_total", "Requests answered, by model and HTTP status code (GETs of /metrics and /v2/health not counted).",
                              {"model", "code"}),
      registry.counter_family("greenbatch_inferences_total", "Inferences (images) run, by model.", {"model"}),
      registry.histogram("greenbatch_request_duration_seconds",
                         "Time from a request's arrival at the server to its response, in seconds.",
                         latency_buckets_seconds()),
      registry.histogram("greenbatch_queue_wait_seconds",
                         "Time an inference waited from its arrival to its batch's dispatch, in seconds.",
                         latency_buckets_seconds()),
      registry.histogram("greenbatch_batch_size", "Inferences per batch.", batch_size_buckets()),
      registry.counter("greenbatch_batches_total", "Batches run."),
      nullptr,
  };
  registry.gauge_fn("greenbatch_queue_depth", "Inferences waiting in the queue.", std::move(sources.queue_depth));
  if (sources.energy) {
    auto& e = *sources.energy;
    registry.counter_fn("greenbatch_energy_joules_total", "Energy the meter measured since the server started, in joules.",
                        std::move(e.energy_joules));
    registry.gauge_fn("greenbatch_power_watts", "Power the meter reads now, in watts.", std::move(e.power_watts));
    if (e.idle_power_watts)
      registry.gauge_fn("greenbatch_idle_power_watts", "Idle power measured before serving, in watts.",
                        std::move(e.idle_power_watts));
    m.energy_per_inference = &registry.gauge_family(
        "greenbatch_energy_per_inference_joules",
        "Energy per inference, in joules, over the recent batches or since the start; total, or above idle power "
        "(dynamic).",
        {"window", "kind"});
  }
  return m;
}

}  // namespace greenbatch::serve
