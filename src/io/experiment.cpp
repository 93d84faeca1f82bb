#include "io/experiment.hpp"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <set>
#include <toml++/toml.h>

#include "arrivals/rng.hpp"
#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "backends/backend.hpp"
#include "core/choices.hpp"
#include "core/carbon.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "energy/meter.hpp"

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

// An experiment file is a few lines; a larger one is not one.
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;
// Lists of lists at most (a value deeper than that is no experiment's).
constexpr int kMaxValueDepth = 2;

const std::set<std::string> kKeys = {
    "name",        "models",    "rates",      "arrivals",   "policies",   "requests",          "repetitions",
    "seed",        "device",    "meter",      "preprocess", "threads",    "warmup_batches",    "warmup_batch_size",
    "cooldown",    "idle_window", "order",    "order_seed", "out",        "clock",             "models_dir",
    "images_dir",  "host_memory", "preprocess_threads", "mode", "target", "server_policy", "connections",
    "request_timeout", "input", "input_name", "output", "knobs", "carbon_intensity"};

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

  // A whole number from MIN to MAX (TOML's integers are 64-bit; none is cast to a narrower type
  // before this check, so nothing wraps).
  long long integer(const std::string& key, long long fallback, long long min, long long max) const {
    const toml::node* n = node(key);
    if (!n) return fallback;
    if (!n->is_integer()) fail(n, key, fmt::format("expected a whole number, got {}", type_name(*n)));
    const long long v = *n->value<long long>();
    if (v < min || v > max) fail(n, key, fmt::format("must be from {} to {}, not {}", min, max, v));
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
      if (!(v >= limits::kMinRateHz && v <= limits::kMaxRateHz)) {
        fail(&e, key, fmt::format("a rate must be from {:g} to {:g} requests per second, not {}", limits::kMinRateHz,
                                  limits::kMaxRateHz, v));
      }
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

// toml++ reads dotted keys, tables and nested values recursively: a hostile file (a key of
// 50,000 dotted parts, lists nested thousands deep) would exhaust the stack before any check of
// ours. An experiment file needs none of them: `key = value` lines at the top, values strings,
// numbers or lists of them. This refuses the rest on the text, before toml++ reads it. WHERE is
// "FILE" (errors then say FILE:LINE) or "--set '...'" (no line).
void check_toml_shape(std::string_view text, const std::string& where, bool with_lines) {
  std::size_t line = 1;
  auto refuse = [&](const std::string& what) {
    if (with_lines) throw UserError(fmt::format("{}:{}: {}", where, line, what));
    throw UserError(fmt::format("{}: {}", where, what));
  };
  const std::string flat =
      "an experiment file has only top-level `key = value` lines (strings, numbers and lists of them)";
  enum class At { kLineStart, kKey, kValue } at = At::kLineStart;
  int depth = 0;  // open [ in the value
  const std::size_t n = text.size();
  // Skips the string starting at text[i] (a quote), returns the index after it.
  auto skip_string = [&](std::size_t i) {
    const char q = text[i];
    const bool multi = i + 2 < n && text[i + 1] == q && text[i + 2] == q;
    std::size_t j = i + (multi ? 3 : 1);
    while (j < n) {
      const char c = text[j];
      if (c == '\\' && q == '"') {
        j += 2;
        continue;
      }
      if (c == '\n') {
        if (!multi) return j;  // broken; toml++ says so
        ++line;
      }
      if (c == q) {
        if (!multi) return j + 1;
        if (j + 2 < n && text[j + 1] == q && text[j + 2] == q) return j + 3;
      }
      ++j;
    }
    return j;
  };
  std::size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      if (depth == 0) at = At::kLineStart;
      ++i;
      continue;
    }
    if (c == '#') {  // a comment, to the end of the line
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (at == At::kLineStart) {
      if (c == '[') refuse("tables ([name] headers) are not used: " + flat);
      at = At::kKey;
    }
    if (c == '"' || c == '\'') {
      i = skip_string(i);
      continue;
    }
    if (at == At::kKey) {
      if (c == '.') refuse("dotted keys (a.b = ...) are not used: " + flat);
      if (c == '=') at = At::kValue;
      ++i;
      continue;
    }
    if (c == '{') refuse("inline tables ({...}) are not used: " + flat);
    if (c == '[' && ++depth > kMaxValueDepth) {
      refuse(fmt::format("lists nested deeper than {} are not used: {}", kMaxValueDepth, flat));
    }
    if (c == ']' && depth > 0) --depth;
    ++i;
  }
}

toml::table parse_experiment_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UserError(fmt::format("experiment file {}: no such file", path));
  if (!fs::is_regular_file(path, ec)) throw UserError(fmt::format("experiment file {}: not a file", path));
  if (const auto size = fs::file_size(path, ec); !ec && size > kMaxFileBytes) {
    throw UserError(fmt::format("experiment file {}: {} bytes; an experiment file holds at most {} bytes", path, size,
                                kMaxFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw UserError(fmt::format("experiment file {}: cannot read it", path));
  const std::string text = ss.str();
  check_toml_shape(text, path, true);
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw UserError(fmt::format("{}:{}: not valid TOML: {}", path, e.source().begin.line, e.description()));
  }
}

// One `--set key=value`: the value in TOML syntax (rates=[16,64]); a bare word the shell
// unquoted (device=cuda) is taken as a string. The key is one of the file's top-level keys.
void apply_set(toml::table& table, const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UserError(fmt::format("--set '{}': expected key=value, e.g. --set rates=[16,64]", s));
  }
  const std::string key = s.substr(0, eq);
  const std::string value = s.substr(eq + 1);
  if (key.find('.') != std::string::npos) {
    throw UserError(fmt::format("--set '{}': '{}' is a dotted key; an experiment file has only top-level keys "
                                "(e.g. --set rates=[16,64])",
                                s, key));
  }
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      throw UserError(fmt::format("--set '{}': '{}' is not a valid TOML key", s, key));
    }
  }
  std::string quoted = "\"";
  for (char c : value) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  quoted += "\"";
  for (const std::string& v : {value, quoted}) {
    const std::string line = key + " = " + v;
    try {
      check_toml_shape(line, fmt::format("--set '{}'", s), false);
      toml::table one = toml::parse(line);
      const toml::node* n = one.get(key);
      if (!n || one.size() != 1) continue;
      table.insert_or_assign(key, *n);
      return;
    } catch (const UserError&) {
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

// The path to the model (mode, target) and the load's settings, each checked.
void read_path(const Reader& r, Experiment& e) {
  e.mode = r.choice("mode", SweepMode::kRun);
  e.target = r.str("target", "");
  const bool target = r.node("target") != nullptr;
  if (target && e.mode == SweepMode::kServe) {
    r.fail(r.node("mode"), "mode",
           "\"serve\" starts a greenbatch serve per model and policy, `target` names a server already running: "
           "give one of them");
  }
  if (target) r.check(r.node("target"), "target", [&] { e.target = load::parse_target(e.target).url(); });
  e.server_policy = r.str("server_policy", e.server_policy);
  if (r.node("server_policy") && !target) {
    r.fail(r.node("server_policy"), "server_policy",
           "only with `target` (an external server's policy, recorded); mode \"serve\" runs `policies`");
  }
  if (e.server_policy.empty() || e.server_policy.size() > 200) {
    r.fail(r.node("server_policy"), "server_policy", "1 to 200 characters, e.g. \"triton dynamic batching, max 32\"");
  }
  for (const char* key : {"connections", "request_timeout", "input", "input_name", "output"}) {
    if (r.node(key) && !e.through_server()) {
      r.fail(r.node(key), key, "a setting of the load: only with mode = \"serve\" or a `target`");
    }
  }
  e.connections = static_cast<std::size_t>(r.integer("connections", 64, 1, 10000));
  e.request_timeout = r.duration("request_timeout", e.request_timeout);
  if (e.request_timeout <= 0) r.fail(r.node("request_timeout"), "request_timeout", "must be more than 0");
  e.input = r.str("input", target || e.base.preprocess != Preprocess::kPerRequest ? "tensor" : "jpeg");
  if (e.input != "tensor" && e.input != "jpeg" && e.input != "null") {
    r.fail(r.node("input"), "input", fmt::format("'{}': accepted: {}", e.input, load::kLoadInputs));
  }
  e.names.input = r.str("input_name", e.names.input);
  e.names.output = r.str("output", e.names.output);
  r.check(r.node("input_name"), "input_name", [&] { load::check_tensor_name(e.names.input, "input_name"); });
  r.check(r.node("output"), "output", [&] { load::check_tensor_name(e.names.output, "output"); });
  if (e.through_server() && e.base.clock == ClockKind::kVirtual) {
    r.fail(r.node("clock"), "clock", "\"virtual\" runs in this process only; a server runs on the real clock");
  }
}

// Every setting but the grid's, each checked.
void read_settings(const Reader& r, const std::string& path, Experiment& e) {
  e.file = path;
  e.name = r.str("name", fs::path(path).stem().string());
  RunSpec& b = e.base;
  constexpr long long kMax = std::numeric_limits<long long>::max();
  b.requests = static_cast<std::size_t>(r.integer("requests", 8192, 1, static_cast<long long>(limits::kMaxRequests)));
  b.requests_given = true;
  e.repetitions = static_cast<int>(r.integer("repetitions", 1, 1, kMaxRepetitions));
  // Repetition r uses seed + r: room is left for every repetition.
  b.seed = static_cast<std::uint64_t>(r.integer("seed", 1, 0, kMax - kMaxRepetitions));
  b.device = r.str("device", b.device);
  b.meter = r.str("meter", b.meter);
  b.preprocess = r.choice("preprocess", b.preprocess);
  b.host_memory = r.choice("host_memory", b.host_memory);
  b.clock = r.choice("clock", b.clock);
  b.models_dir = r.str("models_dir", b.models_dir);
  b.images_dir = r.str("images_dir", b.images_dir);
  b.threads = static_cast<int>(r.integer("threads", 0, 0, 4096));
  // Absent: chosen from the cores (auto); 0: in the batch.
  b.preprocess_threads = static_cast<int>(r.integer("preprocess_threads", -1, 0, 4096));
  b.warmup_batches = static_cast<std::size_t>(r.integer("warmup_batches", 256, 0, 1000000));
  b.warmup_batch_size = static_cast<std::size_t>(r.integer("warmup_batch_size", 32, 1, 1 << 20));
  e.cooldown_ns = r.duration("cooldown", 0);
  b.idle_window_ns = r.duration("idle_window", b.idle_window_ns);
  e.order = r.choice("order", SweepOrder::kGrid);
  e.order_seed = static_cast<std::uint64_t>(r.integer("order_seed", 1, 0, kMax / 2));
  e.out = r.str("out", "results/" + e.name);
  read_path(r, e);

  if (const toml::node* ci = r.node("carbon_intensity")) {
    r.check(ci, "carbon_intensity", [&] {
      if (const auto v = ci->value<double>()) b.carbon_intensity = fmt::format("{}", *v);
      else if (const auto t = ci->value<std::string>()) b.carbon_intensity = *t;
      else throw UserError("a number (gCO2e per kWh) or a CSV file's path (time,intensity rows)");
      (void)parse_carbon_intensity(b.carbon_intensity, "carbon_intensity");
    });
  }
  r.check(r.node("meter"), "meter", [&] {
    if (b.meter == "server") {
      if (!r.node("target")) {
        throw UserError("\"server\" (a greenbatch serve's own meter, read from its /metrics) is for a `target`; "
                        "mode \"serve\" always reads the server it starts, with the meter given here");
      }
      return;
    }
    check_meter_spec(b.meter);
    // A modelled meter is built here (it needs no hardware), so that its powers are checked
    // before the first run rather than as each run starts.
    const std::string kind = split_spec(b.meter).first;
    if (kind == "modelled") {
      MeterContext ctx;
      ctx.device = "synthetic";
      (void)make_meter(b.meter, ctx);
    }
  });
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

// Keeps VALUE (written TEXT) unless an earlier entry of KEY's list has the same canonical form;
// a dropped synonym is noted in e.duplicates.
template <typename T>
void add_unique(std::vector<T>& list, std::vector<std::string>& canon, const std::string& canonical, T value,
                const std::string& key, const std::string& text, Experiment& e) {
  for (std::size_t i = 0; i < canon.size(); ++i) {
    if (canon[i] == canonical) {
      e.duplicates.push_back(text == canonical ? fmt::format("{}: '{}' listed twice", key, text)
                                               : fmt::format("{}: '{}' is '{}'", key, text, canonical));
      return;
    }
  }
  canon.push_back(canonical);
  list.push_back(std::move(value));
}

// The grid's lists (models, rates, arrivals, policies), each element checked against the
// run's other settings and canonicalised (policies and arrivals as records write them, models
// as records name them): a synonym of an earlier entry is dropped, so each configuration runs
// once. None may be empty.
void read_grid(const Reader& r, const std::string& path, bool check_models, Experiment& e) {
  const bool target = !e.target.empty();
  if (target && r.node("policies")) {
    r.fail(r.node("policies"), "policies",
           "a `target` batches by its own policy: say what it is with server_policy (recorded, not enforced)");
  }
  for (const char* key : {"models", "rates", "policies"}) {
    if (target && std::string_view(key) == "policies") continue;
    if (!r.node(key)) {
      throw UserError(fmt::format("{}: key '{}' is missing; the grid needs models, rates and policies", path, key));
    }
  }
  const RunSpec& b = e.base;
  const std::string meter_kind = split_spec(b.meter).first;
  std::vector<std::string> canon;
  for (const auto& [m, n] : r.strings("models")) {
    std::string c;
    r.check(n, "models", [&, &m = m] {
      if (target) {  // the model's name on the server
        load::check_model_name(m, "models");
        c = m;
        return;
      }
      check_model(m, b.models_dir, check_models);
      if (b.clock == ClockKind::kVirtual &&
          (!is_synthetic_spec(m) || !(meter_kind == "modelled" || meter_kind == "none" || meter_kind == "auto"))) {
        throw UserError(fmt::format("clock \"virtual\" needs a synthetic model and a modelled or no meter; "
                                    "'{}' with meter '{}' runs in real time",
                                    m, b.meter));
      }
      c = canonical_model(m);
    });
    add_unique(e.models, canon, c, m, "models", m, e);
  }
  canon.clear();
  for (const auto& [v, n] : r.numbers("rates")) add_unique(e.rates, canon, fmt::format("{}", v), v, "rates", fmt::format("{}", v), e);
  // The knobs: a list of knob sets (core/knobs.hpp's text, "fp32" for the defaults), each
  // loading every model anew; each must suit every model's device.
  canon.clear();
  if (r.node("knobs")) {
    e.knobs.clear();
    if (e.through_server()) {
      r.fail(r.node("knobs"), "knobs",
             "a sweep through a server runs the server's own knobs; start `greenbatch serve --precision ...` and "
             "sweep it as a target, or sweep in mode \"run\"");
    }
  }
  for (const auto& [k, n] : r.strings("knobs")) {
    Knobs parsed;
    r.check(n, "knobs", [&, &k = k] {
      parsed = parse_knobs(k);
      for (const std::string& m : e.models) check_knobs(parsed, canonical_device(m, b.device));
    });
    add_unique(e.knobs, canon, parsed.is_default() ? std::string("fp32") : parsed.text(), parsed, "knobs", k, e);
  }
  e.arrivals.clear();
  canon.clear();
  for (const auto& [a, n] : r.strings("arrivals")) {
    std::string c;
    r.check(n, "arrivals", [&, &a = a] {
      const ArrivalSpec spec = parse_arrivals(a);
      c = spec.text;
      // A trace is read now: a missing file, or one shorter than `requests`, is refused here.
      if (spec.kind == ArrivalSpec::Kind::kTrace) (void)generate_schedule(spec, 1, b.requests, b.seed);
    });
    add_unique(e.arrivals, canon, c, c, "arrivals", a, e);
    if (e.rates.size() > 1 && parse_arrivals(c).varies()) {
      e.duplicates.push_back(fmt::format("arrivals: '{}' sets its own rates: it runs once, not once per rate", c));
    }
  }
  if (!r.node("arrivals")) e.arrivals = {"constant"};
  canon.clear();
  if (target) e.policies = {e.server_policy};
  for (const auto& [p, n] : r.strings("policies")) {
    std::string c;
    r.check(n, "policies", [&, &p = p] { c = parse_policy(p)->spec(); });
    add_unique(e.policies, canon, c, c, "policies", p, e);
  }
  // A server cannot know that the stream ended: the last requests of a run must not wait for a
  // batch that never fills (fixed:N with requests not a multiple of N).
  if (e.mode == SweepMode::kServe) {
    for (const std::string& p : e.policies) {
      const auto policy = parse_policy(p);
      const std::size_t rest = b.requests % policy->max_batch();
      const std::vector<TimeNs> waiting(rest, 0);
      if (rest > 0 && policy->decide(waiting, limits::kMaxTimeNs, false).kind == Decision::Kind::kWaitForArrival) {
        r.fail(r.node("requests"), "requests",
               fmt::format("{}: the last {} of {} requests would wait on the server for a batch that never fills "
                           "(a server does not know the stream ended); make requests a multiple of {}, or use "
                           "a policy with a deadline (timeout:N:D)",
                           policy->spec(), rest, b.requests, policy->max_batch()));
      }
    }
  }
  for (const auto& [key, size] : {std::pair<const char*, std::size_t>{"models", e.models.size()},
                                  {"rates", e.rates.size()},
                                  {"arrivals", e.arrivals.size()},
                                  {"policies", e.policies.size()},
                                  {"knobs", e.knobs.size()}}) {
    if (size == 0) r.fail(r.node(key), key, "the list is empty: the grid would have no run");
  }
  // Each rate with each arrival process, as a run would check it (the schedule's bounds: its
  // times within 100 years, a bursty on period against the rate), so that no run of the grid is
  // refused only when it starts.
  for (const double rate : e.rates) {
    for (const std::string& a : e.arrivals) {
      RunSpec spec = b;
      spec.rate_hz = rate;
      r.check(r.node("rates"), "rates", [&] { check_run_spec(spec, parse_arrivals(a)); });
    }
  }
  // The whole grid's size, before any of it is planned (no product here can overflow: each
  // list is bounded by the file's size, repetitions by kMaxRepetitions).
  const double runs = static_cast<double>(e.models.size()) * static_cast<double>(e.rates.size()) *
                      static_cast<double>(e.arrivals.size()) * static_cast<double>(e.policies.size()) *
                      static_cast<double>(e.knobs.size()) * static_cast<double>(e.repetitions);
  if (runs > static_cast<double>(kMaxGridRuns)) {
    throw UserError(fmt::format(
        "{}: the grid has {:.0f} runs ({} models x {} knobs x {} rates x {} arrivals x {} policies x {} repetitions); "
        "a sweep holds at most {} runs: split it into several files",
        path, runs, e.models.size(), e.knobs.size(), e.rates.size(), e.arrivals.size(), e.policies.size(), e.repetitions,
        kMaxGridRuns));
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

load::LoadSpec load_spec(const Experiment& e, const PlannedRun& p, const std::string& url) {
  const RunSpec& s = p.spec;
  load::LoadSpec l;
  l.url = url;
  l.rate_hz = s.rate_hz;
  l.arrivals = s.arrivals;
  l.requests = s.requests;
  l.requests_given = s.requests_given;
  l.seed = s.seed;
  l.input = e.input;
  l.images_dir = s.images_dir;
  l.connections = e.connections;
  l.timeout = e.request_timeout;
  l.names = e.names;
  l.idle_window = s.idle_window_ns;
  l.repetition = p.repetition;
  if (e.mode == SweepMode::kServe) {
    // The configuration as an in-process run records it; the server's own meter.
    const RunRecord h = record_header(s);
    l.model = load::url_safe_name(is_synthetic_spec(s.model) ? std::string("synthetic") : h.model);
    l.record_model = h.model;
    l.device = h.device;
    l.policy = h.policy;
    l.via = "serve";
    l.meter = "server";
  } else {
    l.model = s.model;
    l.policy = e.server_policy;
    l.meter = s.meter;
  }
  return l;
}

std::vector<PlannedRun> plan_runs(const Experiment& e, int shard_index, int shard_count) {
  std::vector<PlannedRun> all;
  std::size_t index = 0;
  // Serve mode runs each policy's rates together (one server per model and policy): the
  // policies are the outer loop there.
  const bool serve = e.mode == SweepMode::kServe;
  const std::vector<std::string> one_pass = {std::string()};
  // One run of the grid, at the next grid index; kept when it falls in this shard.
  const auto plan = [&](std::vector<PlannedRun>& of_model, const std::string& model, const Knobs& knobs, int rep,
                        double rate, const std::string& arrivals, const std::string& policy) {
    PlannedRun p;
    RunSpec& s = p.spec;
    s = e.base;
    s.model = model;
    s.knobs = knobs;
    s.rate_hz = rate;
    s.arrivals = arrivals;
    s.policy = policy;
    s.seed = e.base.seed + static_cast<std::uint64_t>(rep);
    p.repetition = rep;
    p.grid_index = index++;
    // The identity the run's own record will have: the same header, from the same function.
    try {
      if (e.through_server()) {
        p.key = load::load_header(load_spec(e, p, serve ? "http://127.0.0.1:1" : e.target)).identity();
      } else {
        RunRecord header = record_header(s);
        header.repetition = rep;
        p.key = header.identity();
      }
    } catch (const UserError& err) {
      throw UserError(fmt::format("{}: run {} ({} {} {:g}/s {}): {}", e.file, index - 1, model, policy, rate,
                                  arrivals, err.what()));
    }
    if (static_cast<int>(p.grid_index % static_cast<std::size_t>(shard_count)) == shard_index - 1) {
      of_model.push_back(std::move(p));
    }
  };
  for (const std::string& model : e.models) {
    std::vector<PlannedRun> of_model;
    for (const Knobs& knobs : e.knobs) {
      for (const std::string& outer : serve ? e.policies : one_pass) {
        for (int rep = 0; rep < e.repetitions; ++rep) {
          for (double rate : e.rates) {
            for (const std::string& arrivals : e.arrivals) {
              // A load that changes with time sets its own rates: one run, at the first rate's place.
              if (rate != e.rates.front() && parse_arrivals(arrivals).varies()) continue;
              for (const std::string& policy : serve ? std::vector<std::string>{outer} : e.policies) {
                plan(of_model, model, knobs, rep, rate, arrivals, policy);
              }
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
