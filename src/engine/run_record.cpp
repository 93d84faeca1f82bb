#include "engine/run_record.hpp"

#include <fmt/format.h>

#include "arrivals/schedule.hpp"
#include "backends/backend.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "build_info.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "engine/execute.hpp"

namespace greenbatch {

namespace {

using Json = nlohmann::json;

Json opt(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
Json str_or_null(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json energy_to_json(const Energy& e) {
  Json j = {
      {"method", e.method},
      {"measured", e.measured},
      {"joules", opt(e.joules)},
      {"per_image_j", opt(e.per_image_j)},
      {"idle_power_w", opt(e.idle_power_w)},
      {"dynamic_per_image_j", opt(e.dynamic_per_image_j)},
      {"avg_power_w", opt(e.avg_power_w)},
      {"busy_power_w", opt(e.busy_power_w)},
      {"peak_power_w", opt(e.peak_power_w)},
      {"window_s", e.window_s},
      {"samples", e.samples},
      {"warnings", e.warnings},
      {"sensor", e.sensor},
  };
  if (e.cross_check) {
    const auto& c = *e.cross_check;
    j["cross_check"] = {{"method", c.method},
                        {"joules", opt(c.joules)},
                        {"per_image_j", opt(c.per_image_j)},
                        {"difference_pct", opt(c.difference_pct)},
                        {"instant_joules", opt(c.instant_joules)}};
  } else {
    j["cross_check"] = nullptr;
  }
  j["reason"] = str_or_null(e.reason);
  if (e.estimated) j["estimated"] = true;  // written only when set: measured records are unchanged
  return j;
}

// Reads one object of a record; errors name the key with its path ("energy.joules").
class Reader {
 public:
  Reader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) throw UserError(fmt::format("run record: {}expected a JSON object, got {}", where(), kind(j_)));
  }

  // nullptr when the key is absent or null.
  const Json* find(const char* key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const Json& required(const char* key) const {
    const Json* v = find(key);
    if (!v) throw UserError(fmt::format("run record: key '{}' is missing", name(key)));
    return *v;
  }
  [[noreturn]] void wrong(const char* key, const char* expected, const Json& v) const {
    throw UserError(fmt::format("run record: key '{}': expected {}, got {}", name(key), expected, kind(v)));
  }

  std::string string(const Json& v, const char* key) const {
    if (!v.is_string()) wrong(key, "a string", v);
    return v.get<std::string>();
  }
  double number(const Json& v, const char* key) const {
    if (!v.is_number()) wrong(key, "a number", v);
    return v.get<double>();
  }
  std::uint64_t whole(const Json& v, const char* key) const {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) wrong(key, "a whole number of at least 0", v);
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  }

  std::string req_string(const char* key) const { return string(required(key), key); }
  double req_number(const char* key) const { return number(required(key), key); }
  std::uint64_t req_whole(const char* key) const { return whole(required(key), key); }

  std::string opt_string(const char* key) const {
    const Json* v = find(key);
    return v ? string(*v, key) : std::string();
  }
  std::optional<double> opt_number(const char* key) const {
    const Json* v = find(key);
    return v ? std::optional<double>(number(*v, key)) : std::nullopt;
  }
  double number_or(const char* key, double fallback) const { return opt_number(key).value_or(fallback); }
  std::uint64_t whole_or(const char* key, std::uint64_t fallback) const {
    const Json* v = find(key);
    return v ? whole(*v, key) : fallback;
  }
  int integer_or(const char* key, int fallback) const {
    const Json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number_integer()) wrong(key, "a whole number", *v);
    return v->get<int>();
  }
  bool boolean_or(const char* key, bool fallback) const {
    const Json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong(key, "true or false", *v);
    return v->get<bool>();
  }
  // A list of objects (absent or null: none).
  std::vector<Reader> objects(const char* key) const {
    std::vector<Reader> out;
    const Json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) wrong(key, "a list", *v);
    for (std::size_t i = 0; i < v->size(); ++i) out.emplace_back((*v)[i], fmt::format("{}[{}]", name(key), i));
    return out;
  }
  // A nested object (absent or null: none).
  std::optional<Reader> object(const char* key) const {
    const Json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_object()) wrong(key, "an object", *v);
    return Reader(*v, name(key));
  }

 private:
  std::string name(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string where() const { return path_.empty() ? "" : fmt::format("key '{}': ", path_); }
  static std::string kind(const Json& v) {
    if (v.is_string()) return "a string";
    if (v.is_boolean()) return "true or false";
    if (v.is_number()) return "a number";
    if (v.is_array()) return "a list";
    if (v.is_object()) return "an object";
    return "null";
  }

  const Json& j_;
  std::string path_;
};

Energy energy_from(const Reader& r) {
  Energy e;
  e.method = r.opt_string("method");
  e.measured = r.boolean_or("measured", false);
  e.estimated = r.boolean_or("estimated", false);
  e.reason = r.opt_string("reason");
  e.window_s = r.number_or("window_s", 0);
  e.joules = r.opt_number("joules");
  e.per_image_j = r.opt_number("per_image_j");
  e.idle_power_w = r.opt_number("idle_power_w");
  e.dynamic_per_image_j = r.opt_number("dynamic_per_image_j");
  e.avg_power_w = r.opt_number("avg_power_w");
  e.busy_power_w = r.opt_number("busy_power_w");
  e.peak_power_w = r.opt_number("peak_power_w");
  e.samples = r.whole_or("samples", 0);
  if (const Json* w = r.find("warnings")) {
    if (!w->is_array()) r.wrong("warnings", "a list of strings", *w);
    for (const Json& s : *w) e.warnings.push_back(r.string(s, "warnings"));
  }
  if (const auto c = r.object("cross_check")) {
    Energy::CrossCheck cc;
    cc.method = c->opt_string("method");
    cc.joules = c->opt_number("joules");
    cc.per_image_j = c->opt_number("per_image_j");
    cc.difference_pct = c->opt_number("difference_pct");
    cc.instant_joules = c->opt_number("instant_joules");
    e.cross_check = cc;
  }
  if (const Json* s = r.find("sensor")) e.sensor = *s;
  return e;
}

// The figures of a run that started; none when the record has none (a run that never started).
std::optional<Summary> summary_from(const Reader& r, std::size_t requests) {
  const std::size_t completed = r.whole_or("completed", 0);
  bool any = completed > 0;
  for (const char* key : {"duration_s", "batches", "avg_batch_size", "throughput_rps", "latency_s", "dispatch_late_s",
                          "service_s"}) {
    any = any || r.find(key);
  }
  if (!any) return std::nullopt;
  Summary s;
  s.requests = requests;
  s.completed = completed;
  s.batches = r.whole_or("batches", 0);
  s.duration_s = r.number_or("duration_s", 0);
  s.avg_batch_size = r.number_or("avg_batch_size", 0);
  s.throughput_rps = r.number_or("throughput_rps", 0);
  if (completed > 0) {
    // Requests completed: every writer recorded their latency, so a record without it is cut or
    // edited, and reading it as zeros would put false figures into summaries and recommendations.
    const auto l = r.object("latency_s");
    if (!l) throw UserError("run record: key 'latency_s' is missing (the record says requests completed)");
    s.latency_s = {l->req_number("mean"), l->req_number("p50"), l->req_number("p90"),
                   l->req_number("p95"),  l->req_number("p99"), l->req_number("max")};
  } else {
    if (const auto l = r.object("latency_s")) {
      s.latency_s = {l->number_or("mean", 0), l->number_or("p50", 0), l->number_or("p90", 0),
                     l->number_or("p95", 0),  l->number_or("p99", 0), l->number_or("max", 0)};
    }
  }
  if (const auto d = r.object("dispatch_late_s")) {
    s.dispatch_late_s = {d->number_or("p50", 0), d->number_or("p99", 0), d->number_or("max", 0)};
  }
  if (const auto v = r.object("service_s")) {
    s.service_s = {v->number_or("mean", 0), v->number_or("min", 0), v->number_or("p50", 0), v->number_or("p90", 0),
                   v->number_or("max", 0)};
  }
  if (const auto p = r.object("prepare_s")) {
    s.prepare_s = PrepareSummary{p->req_number("mean"), p->req_number("p50"), p->req_number("p99"), p->req_number("max")};
  }
  for (const Reader& w : r.objects("windows")) {
    s.windows.push_back({w.req_number("t_s"), w.whole_or("requests", 0), w.req_number("rate_hz"), w.req_number("p99_s"),
                         w.req_number("max_s"), w.whole_or("batches", 0), w.number_or("avg_batch", 0)});
  }
  return s;
}

// A load record's own keys: target, server, statuses, sent, achieved_rate_hz, send_late_s. The
// server's batches are not the client's to know: batches, avg_batch_size, dispatch_late_s and
// service_s are null.
void load_to_json(const RunRecord& rec, Json& j) {
  j["target"] = rec.target;
  j["server"] = rec.server;
  if (!rec.via.empty()) j["via"] = rec.via;
  // The client sees no batches; the server's own (--meter server) are kept.
  const bool server_batches = rec.summary && rec.summary->batches > 0;
  for (const char* key : {"batches", "avg_batch_size", "dispatch_late_s", "service_s"}) {
    if (!server_batches || std::string_view(key).ends_with("_s")) j[key] = nullptr;
  }
  if (!rec.load) return;
  const LoadFigures& l = *rec.load;
  const auto& s = l.statuses;
  j["statuses"] = {{"2xx", s.s2xx},         {"4xx", s.s4xx},
                   {"5xx", s.s5xx},         {"other", s.other},
                   {"timeout", s.timeout},  {"connection_error", s.connection_error}};
  j["sent"] = l.sent;
  j["achieved_rate_hz"] = opt(l.achieved_rate_hz);
  j["send_late_s"] = l.send_late_s ? Json{{"p50", l.send_late_s->p50}, {"p99", l.send_late_s->p99},
                                          {"max", l.send_late_s->max}}
                                   : Json(nullptr);
}

void load_from(const Reader& r, RunRecord& rec) {
  rec.target = r.req_string("target");
  if (const Json* s = r.find("server")) rec.server = *s;
  rec.via = r.opt_string("via");
  if (!rec.via.empty() && rec.via != "serve") {
    throw UserError(fmt::format("run record: via '{}' is not known; accepted: serve (or absent)", rec.via));
  }
  const auto st = r.object("statuses");
  if (!st) return;
  LoadFigures l;
  l.statuses = {st->whole_or("2xx", 0),     st->whole_or("4xx", 0),     st->whole_or("5xx", 0),
                st->whole_or("other", 0),   st->whole_or("timeout", 0), st->whole_or("connection_error", 0)};
  l.sent = r.whole_or("sent", 0);
  l.achieved_rate_hz = r.opt_number("achieved_rate_hz");
  if (const auto d = r.object("send_late_s")) {
    l.send_late_s = LatenessSummary{d->req_number("p50"), d->req_number("p99"), d->req_number("max")};
  }
  rec.load = l;
}

}  // namespace

std::string canonical_model(const std::string& model) {
  if (is_synthetic_spec(model)) return synthetic_spec(parse_synthetic(model));
  return recorded_model_name(model);
}

std::string canonical_device(const std::string& model, const std::string& device) {
  if (is_synthetic_spec(model)) return "synthetic";
  return device == "cuda" ? "cuda:0" : device;
}

std::string RunRecord::identity() const {
  // The knobs join the identity only when they are not the defaults: earlier records keep theirs.
  const std::string k = knobs.is_default() ? "" : "|" + knobs.text();
  return identity_without_knobs() + k;
}

std::string RunRecord::identity_without_knobs() const {
  if (mode == "load" && via == "serve") {
    return fmt::format("serve-load|{}|{}|{}|{}|{}|{}|{}|{}", canonical_model(model), canonical_device(model, device),
                       rate_hz, parse_arrivals(arrivals).text, seed, parse_policy(policy)->spec(), requests,
                       repetition);
  }
  if (mode == "load") {
    return fmt::format("load|{}|{}|{}|{}|{}|{}|{}|{}", target, model, rate_hz, parse_arrivals(arrivals).text, seed,
                       requests, repetition, policy);
  }
  if (mode == "serve") {
    return fmt::format("serve|{}|{}|{}|{}", canonical_model(model), canonical_device(model, device),
                       parse_policy(policy)->spec(), started_utc);
  }
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", canonical_model(model), canonical_device(model, device), rate_hz,
                     parse_arrivals(arrivals).text, seed, parse_policy(policy)->spec(), requests, repetition);
}

nlohmann::json RunRecord::to_json() const {
  Json j;
  j["schema"] = kRunSchema;
  j["tool_version"] = tool_version;
  j["git_rev"] = git_rev;
  j["started_utc"] = started_utc;
  j["host"] = host;
  j["model"] = model;
  j["device"] = device;
  j["clock"] = clock;
  j["rate_hz"] = rate_hz;
  j["offered_rate_hz"] = opt(offered_rate_hz);
  j["arrivals"] = arrivals;
  j["seed"] = seed;
  j["policy"] = policy;
  j["meter"] = meter;
  j["warmup"] = {{"batches", warmup_batches}, {"batch_size", warmup_batch_size}};
  if (mode != "run") j["mode"] = mode;
  j["sweep"] = str_or_null(sweep);
  j["repetition"] = repetition;
  if (simulated) {
    j["simulated"] = true;
    j["profile"] = str_or_null(profile);
  }
  // The knobs only when not the defaults: a record of the default path reads as before.
  if (!knobs.is_default()) j["knobs"] = knobs.to_json();
  j["backend"] = backend;
  j["requests"] = requests;
  if (summary) {
    const Summary& s = *summary;
    j["completed"] = s.completed;
    j["duration_s"] = s.duration_s;
    j["batches"] = s.batches;
    j["avg_batch_size"] = s.avg_batch_size;
    j["throughput_rps"] = s.throughput_rps;
    j["latency_s"] = {{"mean", s.latency_s.mean}, {"p50", s.latency_s.p50}, {"p90", s.latency_s.p90},
                      {"p95", s.latency_s.p95},   {"p99", s.latency_s.p99}, {"max", s.latency_s.max}};
    j["dispatch_late_s"] = {{"p50", s.dispatch_late_s.p50}, {"p99", s.dispatch_late_s.p99}, {"max", s.dispatch_late_s.max}};
    j["service_s"] = {{"mean", s.service_s.mean}, {"min", s.service_s.min}, {"p50", s.service_s.p50},
                      {"p90", s.service_s.p90},   {"max", s.service_s.max}};
    // Per-request input preparation (decoding and resizing images), off the batch's critical
    // path: absent for a backend that prepares nothing per request.
    if (s.prepare_s) {
      j["prepare_s"] = {{"mean", s.prepare_s->mean}, {"p50", s.prepare_s->p50}, {"p99", s.prepare_s->p99},
                        {"max", s.prepare_s->max}};
    }
    // A load that changes: its figures every 10 s, by scheduled arrival (absent otherwise).
    if (!s.windows.empty()) {
      Json w = Json::array();
      for (const WindowSummary& x : s.windows) {
        w.push_back({{"t_s", x.t_s}, {"requests", x.requests}, {"rate_hz", x.rate_hz}, {"p99_s", x.p99_s},
                     {"max_s", x.max_s}, {"batches", x.batches}, {"avg_batch", x.avg_batch}});
      }
      j["windows"] = std::move(w);
    }
  } else {
    // Never started: nothing completed, and nothing was measured.
    j["completed"] = std::size_t{0};
    for (const char* key : {"duration_s", "batches", "avg_batch_size", "throughput_rps", "latency_s", "dispatch_late_s",
                            "service_s"}) {
      j[key] = nullptr;
    }
  }
  if (mode == "load") load_to_json(*this, j);
  j["energy"] = energy ? energy_to_json(*energy) : Json(nullptr);
  if (carbon) {  // only where an intensity was given: other records read as before
    j["carbon"] = {{"intensity_g_per_kwh", carbon->intensity_g_per_kwh},
                   {"grams", carbon->grams},
                   {"grams_per_image", opt(carbon->grams_per_image)},
                   {"source", carbon->source},
                   {"estimated", carbon->estimated}};
  }
  j["power_trace"] = str_or_null(power_trace);
  j["error"] = str_or_null(error);
  return j;
}

RunRecord RunRecord::from_json(const nlohmann::json& j) {
  const Reader r(j, "");
  if (const Json* s = r.find("schema"); s && r.string(*s, "schema") != kRunSchema) {
    throw UserError(fmt::format("run record: schema '{}': this greenbatch reads {}", s->get<std::string>(), kRunSchema));
  }
  RunRecord rec;
  rec.model = r.req_string("model");
  rec.device = r.req_string("device");
  rec.rate_hz = r.req_number("rate_hz");
  rec.arrivals = r.req_string("arrivals");
  rec.seed = r.req_whole("seed");
  rec.policy = r.req_string("policy");
  rec.requests = r.req_whole("requests");
  rec.offered_rate_hz = r.opt_number("offered_rate_hz");
  rec.clock = r.opt_string("clock");
  rec.meter = r.opt_string("meter");
  if (const auto w = r.object("warmup")) {
    rec.warmup_batches = w->whole_or("batches", 0);
    rec.warmup_batch_size = w->whole_or("batch_size", 0);
  }
  if (const Json* m = r.find("mode")) {
    rec.mode = r.string(*m, "mode");
    if (rec.mode != "run" && rec.mode != "serve" && rec.mode != "load") {
      throw UserError(fmt::format("run record: mode '{}' is not known; accepted: run, serve, load", rec.mode));
    }
  }
  if (rec.mode == "load") load_from(r, rec);
  rec.sweep = r.opt_string("sweep");
  rec.repetition = r.integer_or("repetition", 0);
  rec.simulated = r.boolean_or("simulated", false);
  rec.profile = r.opt_string("profile");
  rec.started_utc = r.opt_string("started_utc");
  rec.host = r.opt_string("host");
  rec.tool_version = r.opt_string("tool_version");
  rec.git_rev = r.opt_string("git_rev");
  if (const Json* k = r.find("knobs")) rec.knobs = Knobs::from_json(*k);
  if (const Json* b = r.find("backend")) rec.backend = *b;
  rec.power_trace = r.opt_string("power_trace");
  rec.summary = summary_from(r, rec.requests);
  if (const auto e = r.object("energy")) rec.energy = energy_from(*e);
  if (const auto c = r.object("carbon")) {
    Carbon carbon;
    carbon.intensity_g_per_kwh = c->number_or("intensity_g_per_kwh", 0);
    carbon.grams = c->number_or("grams", 0);
    carbon.grams_per_image = c->opt_number("grams_per_image");
    carbon.source = c->opt_string("source");
    carbon.estimated = c->boolean_or("estimated", false);
    rec.carbon = carbon;
  }
  rec.error = r.opt_string("error");
  return rec;
}

void apply_carbon(RunRecord& rec, const CarbonIntensity& ci, double end_unix_s) {
  rec.carbon.reset();
  if (ci.empty() || !rec.energy || !rec.energy->has_figures() || !rec.energy->joules) return;
  Energy& e = *rec.energy;
  std::string why;
  const auto intensity = mean_intensity(ci, end_unix_s - e.window_s, end_unix_s, &why);
  if (!intensity) {
    e.warnings.push_back("no carbon figure: " + why);
    return;
  }
  Carbon c;
  c.intensity_g_per_kwh = *intensity;
  c.grams = grams_co2e(*e.joules, *intensity);
  if (e.per_image_j) c.grams_per_image = grams_co2e(*e.per_image_j, *intensity);
  c.source = ci.source;
  c.estimated = e.estimated;
  rec.carbon = c;
}

RunRecord record_header(const RunSpec& spec) {
  const ArrivalSpec arrivals = parse_arrivals(spec.arrivals);
  RunRecord h;
  h.model = canonical_model(spec.model);
  h.device = canonical_device(spec.model, spec.device);
  h.clock = std::string(name_of(spec.clock));
  h.arrivals = arrivals.text;
  h.policy = parse_policy(spec.policy)->spec();
  h.meter = spec.meter;
  h.rate_hz = spec.rate_hz;
  h.seed = spec.seed;
  // A trace without a request count: all of it.
  const bool whole_trace = arrivals.whole_by_default() && !spec.requests_given;
  h.requests = schedule_count(arrivals, spec.requests, !whole_trace);
  // A load that varies with time sets its own rates: its mean is the record's rate.
  if (arrivals.varies()) h.rate_hz = arrivals.mean_rate_hz();
  h.knobs = spec.knobs;
  // Warm-up matters for real networks only; a synthetic model has nothing to warm.
  if (!is_synthetic_spec(spec.model)) {
    h.warmup_batches = spec.warmup_batches;
    h.warmup_batch_size = spec.warmup_batch_size;
  }
  h.host = hostname();
  h.tool_version = build::kVersion;
  h.git_rev = build::kGitRev;
  return h;
}

std::optional<double> offered_rate_hz(std::span<const TimeNs> schedule) {
  if (schedule.size() < 2) return std::nullopt;
  const TimeNs span = schedule.back() - schedule.front();
  if (span <= 0) return std::nullopt;
  return static_cast<double>(schedule.size() - 1) / ns_to_s(span);
}

}  // namespace greenbatch
