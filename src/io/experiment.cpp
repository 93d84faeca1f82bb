#include "io/experiment.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <toml++/toml.h>

#include "arrivals/rng.hpp"
#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "backends/backend.hpp"
#include "core/choices.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "energy/meter.hpp"

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kKeys = {
    "name",        "models",    "rates",      "arrivals",   "policies",   "requests",          "repetitions",
    "seed",        "device",    "meter",      "preprocess", "threads",    "warmup_batches",    "warmup_batch_size",
    "cooldown",    "idle_window", "order",    "order_seed", "out",        "clock",             "models_dir",
    "images_dir",  "host_memory"};

class Reader {
 public:
  Reader(const toml::table& t, std::string file) : t_(t), file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::node* n, const std::string& key, const std::string& what) const {
    const auto line = n ? n->source().begin.line : 0;
    if (line > 0) throw UserError(fmt::format("{}:{}: key '{}': {}", file_, line, key, what));
    throw UserError(fmt::format("{}: key '{}': {}", file_, key, what));
  }

  // Wraps a validation that throws UserError, adding where it happened.
  template <typename F>
  void check(const toml::node* n, const std::string& key, F&& f) const {
    try {
      f();
    } catch (const UserError& e) {
      fail(n, key, e.what());
    }
  }

  const toml::node* node(const std::string& key) const { return t_.get(key); }

  std::string str(const std::string& key, const std::string& fallback) const {
    const toml::node* n = node(key);
    if (!n) return fallback;
    if (!n->is_string()) fail(n, key, fmt::format("expected a string, got {}", type_name(*n)));
    return std::string(*n->value<std::string>());
  }

  // One of a fixed set of names (core/choices.hpp).
  template <typename E>
  E choice(const std::string& key, E fallback) const {
    const toml::node* n = node(key);
    if (!n) return fallback;
    const std::string text = str(key, "");
    for (const auto& [v, name] : ChoiceNames<E>::names) {
      if (name == text) return v;
    }
    fail(n, key, "accepted: " + accepted_names<E>());
  }

  long long integer(const std::string& key, long long fallback, long long min) const {
    const toml::node* n = node(key);
    if (!n) return fallback;
    if (!n->is_integer()) fail(n, key, fmt::format("expected a whole number, got {}", type_name(*n)));
    const long long v = *n->value<long long>();
    if (v < min) fail(n, key, fmt::format("must be at least {}, not {}", min, v));
    return v;
  }

  TimeNs duration(const std::string& key, TimeNs fallback) const {
    const toml::node* n = node(key);
    if (!n) return fallback;
    if (!n->is_string()) fail(n, key, "expected a duration string such as \"10s\" or \"500ms\"");
    TimeNs v = 0;
    check(n, key, [&] { v = parse_duration_ns(*n->value<std::string>(), key); });
    return v;
  }

  // A list of strings (a single string is a list of one); each element with its node.
  std::vector<std::pair<std::string, const toml::node*>> strings(const std::string& key) const {
    std::vector<std::pair<std::string, const toml::node*>> out;
    const toml::node* n = node(key);
    if (!n) return out;
    if (n->is_string()) return {{std::string(*n->value<std::string>()), n}};
    if (!n->is_array()) fail(n, key, fmt::format("expected a list of strings, got {}", type_name(*n)));
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_string()) fail(&e, key, fmt::format("expected strings in the list, got {}", type_name(e)));
      out.emplace_back(std::string(*e.value<std::string>()), &e);
    }
    return out;
  }

  std::vector<std::pair<double, const toml::node*>> numbers(const std::string& key) const {
    std::vector<std::pair<double, const toml::node*>> out;
    const toml::node* n = node(key);
    if (!n) return out;
    auto one = [&](const toml::node& e) {
      if (!e.is_number()) fail(&e, key, fmt::format("expected numbers, got {}", type_name(e)));
      const double v = *e.value<double>();
      if (!(v > 0)) fail(&e, key, fmt::format("a rate must be above 0, not {}", v));
      out.emplace_back(v, &e);
    };
    if (n->is_array()) {
      for (const toml::node& e : *n->as_array()) one(e);
    } else {
      one(*n);
    }
    return out;
  }

  static std::string type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "a whole number";
      case toml::node_type::floating_point: return "a number";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::array: return "a list";
      case toml::node_type::table: return "a table";
      default: return "a date or time";
    }
  }

 private:
  const toml::table& t_;
  std::string file_;
};

}  // namespace

std::pair<int, int> parse_shard(const std::string& text) {
  // N at most a million shards (an int, and more than any job array); nothing wraps.
  constexpr std::uint64_t kMaxShards = 1'000'000;
  const auto slash = text.find('/');
  const std::string_view sv(text);
  const auto whole = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (slash == std::string::npos || !whole(sv.substr(0, slash)) || !whole(sv.substr(slash + 1))) {
    throw UserError(fmt::format("--shard '{}': expected I/N, e.g. 2/8 (the second of eight shards)", text));
  }
  const std::string what = fmt::format("--shard '{}'", text);
  const int n = static_cast<int>(parse_whole(sv.substr(slash + 1), what + ": N", 1, kMaxShards));
  const int i = static_cast<int>(parse_whole(sv.substr(0, slash), what + ": I", 1, kMaxShards));
  if (i > n) throw UserError(fmt::format("--shard '{}': need 1 <= I <= N", text));
  return {i, n};
}

namespace {

toml::table parse_experiment_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    if (!fs::exists(path)) throw UserError(fmt::format("experiment file {}: no such file", path));
    throw UserError(fmt::format("{}:{}: not valid TOML: {}", path, e.source().begin.line, e.description()));
  }
}

// One `--set key=value`: the value in TOML syntax (rates=[16,64]); a bare word the shell
// unquoted (device=cuda) is taken as a string.
void apply_set(toml::table& table, const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UserError(fmt::format("--set '{}': expected key=value, e.g. --set rates=[16,64]", s));
  }
  const std::string key = s.substr(0, eq);
  const std::string value = s.substr(eq + 1);
  std::string quoted = "\"";
  for (char c : value) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  quoted += "\"";
  for (const std::string& v : {value, quoted}) {
    try {
      toml::table one = toml::parse(key + " = " + v);
      table.insert_or_assign(key, *one.get(key));
      return;
    } catch (const toml::parse_error&) {
    }
  }
  throw UserError(fmt::format("--set '{}': '{}' is not a valid TOML key", s, key));
}

void check_known_keys(const toml::table& table, const Reader& r) {
  for (const auto& [k, v] : table) {
    if (!kKeys.contains(std::string(k.str()))) {
      std::string known;
      for (const auto& kk : kKeys) known += (known.empty() ? "" : ", ") + kk;
      r.fail(&v, std::string(k.str()), fmt::format("unknown key; known keys: {}", known));
    }
  }
}

// Every setting but the grid's, each checked.
void read_settings(const Reader& r, const std::string& path, Experiment& e) {
  e.file = path;
  e.name = r.str("name", fs::path(path).stem().string());
  RunSpec& b = e.base;
  b.requests = static_cast<std::size_t>(r.integer("requests", 8192, 1));
  b.requests_given = true;
  e.repetitions = static_cast<int>(r.integer("repetitions", 1, 1));
  b.seed = static_cast<std::uint64_t>(r.integer("seed", 1, 0));
  b.device = r.str("device", b.device);
  b.meter = r.str("meter", b.meter);
  b.preprocess = r.choice("preprocess", b.preprocess);
  b.host_memory = r.choice("host_memory", b.host_memory);
  b.clock = r.choice("clock", b.clock);
  b.models_dir = r.str("models_dir", b.models_dir);
  b.images_dir = r.str("images_dir", b.images_dir);
  b.threads = static_cast<int>(r.integer("threads", 0, 0));
  b.warmup_batches = static_cast<std::size_t>(r.integer("warmup_batches", 256, 0));
  b.warmup_batch_size = static_cast<std::size_t>(r.integer("warmup_batch_size", 32, 1));
  e.cooldown_ns = r.duration("cooldown", 0);
  b.idle_window_ns = r.duration("idle_window", b.idle_window_ns);
  e.order = r.choice("order", SweepOrder::kGrid);
  e.order_seed = static_cast<std::uint64_t>(r.integer("order_seed", 1, 0));
  e.out = r.str("out", "results/" + e.name);

  r.check(r.node("meter"), "meter", [&] { check_meter_spec(b.meter); });
}

// A model of the grid: a synthetic spec that parses, or (`check_models`) a TorchScript file
// that exists. Throws UserError.
void check_model(const std::string& m, const std::string& models_dir, bool check_models) {
  if (is_synthetic_spec(m)) {
    parse_synthetic(m);
    return;
  }
  if (!check_models) return;
  const bool is_path = is_model_path(m);
  const fs::path file = is_path ? fs::path(m) : fs::path(models_dir) / (m + ".pt");
  if (!fs::exists(file)) {
    throw UserError(
        fmt::format("model '{}' not found ({}); export it with scripts/export_models.py {}", m, file.string(), m));
  }
}

// The grid's lists (models, rates, arrivals, policies), each element checked; none may be empty.
void read_grid(const Reader& r, const std::string& path, bool check_models, Experiment& e) {
  for (const char* key : {"models", "rates", "policies"}) {
    if (!r.node(key)) {
      throw UserError(fmt::format("{}: key '{}' is missing; the grid needs models, rates and policies", path, key));
    }
  }
  for (const auto& [m, n] : r.strings("models")) {
    r.check(n, "models", [&] { check_model(m, e.base.models_dir, check_models); });
    e.models.push_back(m);
  }
  for (const auto& [v, n] : r.numbers("rates")) e.rates.push_back(v);
  e.arrivals.clear();
  for (const auto& [a, n] : r.strings("arrivals")) {
    r.check(n, "arrivals", [&] { parse_arrivals(a); });
    e.arrivals.push_back(a);
  }
  if (!r.node("arrivals")) e.arrivals = {"constant"};
  for (const auto& [p, n] : r.strings("policies")) {
    r.check(n, "policies", [&] { parse_policy(p); });
    e.policies.push_back(p);
  }
  for (const auto& [key, size] : {std::pair<const char*, std::size_t>{"models", e.models.size()},
                                  {"rates", e.rates.size()},
                                  {"arrivals", e.arrivals.size()},
                                  {"policies", e.policies.size()}}) {
    if (size == 0) r.fail(r.node(key), key, "the list is empty: the grid would have no run");
  }
}

}  // namespace

Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets, bool check_models) {
  toml::table table = parse_experiment_file(path);
  for (const std::string& s : sets) apply_set(table, s);
  const Reader r(table, path);
  check_known_keys(table, r);
  Experiment e;
  read_settings(r, path, e);
  read_grid(r, path, check_models, e);
  return e;
}

std::vector<PlannedRun> plan_runs(const Experiment& e, int shard_index, int shard_count) {
  std::vector<PlannedRun> all;
  std::size_t index = 0;
  for (const std::string& model : e.models) {
    std::vector<PlannedRun> of_model;
    for (int rep = 0; rep < e.repetitions; ++rep) {
      for (double rate : e.rates) {
        for (const std::string& arrivals : e.arrivals) {
          for (const std::string& policy : e.policies) {
            PlannedRun p;
            RunSpec& s = p.spec;
            s = e.base;
            s.model = model;
            s.rate_hz = rate;
            s.arrivals = arrivals;
            s.policy = policy;
            s.seed = e.base.seed + static_cast<std::uint64_t>(rep);
            p.repetition = rep;
            p.grid_index = index++;
            // The identity the run's own record will have: the same header, from the same function.
            RunRecord header = record_header(s);
            header.repetition = rep;
            p.key = header.identity();
            if (static_cast<int>(p.grid_index % static_cast<std::size_t>(shard_count)) == shard_index - 1) {
              of_model.push_back(std::move(p));
            }
          }
        }
      }
    }
    if (e.order == SweepOrder::kRandom) {
      // Fisher-Yates with greenbatch's portable generator: the same order on every machine.
      Rng rng(e.order_seed + all.size());
      for (std::size_t i = of_model.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(rng.uniform01() * static_cast<double>(i));
        std::swap(of_model[i - 1], of_model[std::min(j, i - 1)]);
      }
    }
    for (PlannedRun& p : of_model) all.push_back(std::move(p));
  }
  return all;
}

}  // namespace greenbatch
