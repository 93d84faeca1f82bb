#include "load/server_metrics.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "core/error.hpp"
#include "load/client.hpp"

namespace greenbatch::load {

namespace {

constexpr TimeNs kScrapeTimeout = 5 * kNsPerS;

std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> metric_sum(std::string_view text, std::string_view name) {
  std::optional<double> sum;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.starts_with(name) || line.size() == name.size()) continue;
    std::string_view rest = line.substr(name.size());
    if (rest.front() == '{') {
      const std::size_t close = rest.rfind('}');
      if (close == std::string_view::npos) continue;
      rest.remove_prefix(close + 1);
    }
    if (rest.empty() || rest.front() != ' ') continue;  // another metric whose name starts with this one
    rest.remove_prefix(1);
    const std::size_t space = rest.find(' ');
    if (const auto v = parse_number(rest.substr(0, space))) sum = sum.value_or(0) + *v;
  }
  return sum;
}

ServerReading parse_server_reading(std::string_view text, TimeNs at) {
  ServerReading r;
  r.at = at;
  r.joules = metric_sum(text, "greenbatch_energy_joules_total");
  r.idle_w = metric_sum(text, "greenbatch_idle_power_watts");
  r.inferences = metric_sum(text, "greenbatch_inferences_total").value_or(0);
  r.batches = metric_sum(text, "greenbatch_batches_total").value_or(0);
  r.batch_size_sum = metric_sum(text, "greenbatch_batch_size_sum").value_or(0);
  return r;
}

ServerReading read_server(const Target& target, TimeNs at) {
  const HttpReply reply = http_get(target, "/metrics", kScrapeTimeout);
  if (reply.status != 200) {
    throw UserError(fmt::format("{}: GET /metrics answered {}; --meter server reads greenbatch serve's metrics",
                                target.url(), reply.status));
  }
  if (!metric_sum(reply.body, "greenbatch_batches_total")) {
    throw UserError(fmt::format("{}: /metrics has no greenbatch_batches_total; --meter server reads greenbatch "
                                "serve's metrics (another server's energy is not exported this way)",
                                target.url()));
  }
  return parse_server_reading(reply.body, at);
}

Energy server_energy(const ServerReading& before, const ServerReading& after, std::size_t images) {
  Energy e;
  e.method = "server";
  e.window_s = ns_to_s(after.at - before.at);
  if (!before.joules || !after.joules) {
    e.reason = "the server exports no energy (greenbatch_energy_joules_total): its meter is none";
    return e;
  }
  e.measured = true;
  e.joules = *after.joules - *before.joules;
  e.idle_power_w = after.idle_w;
  if (e.window_s > 0) e.avg_power_w = *e.joules / e.window_s;
  if (images > 0) {
    e.per_image_j = *e.joules / static_cast<double>(images);
    if (e.idle_power_w) {
      e.dynamic_per_image_j = (*e.joules - *e.idle_power_w * e.window_s) / static_cast<double>(images);
    }
  }
  const double served = after.inferences - before.inferences;
  if (images > 0 && std::abs(served - static_cast<double>(images)) > 0.5) {
    e.warnings.push_back(fmt::format("the server ran {:.0f} inferences in the window, not the {} answered here: "
                                     "other clients' work is in this energy",
                                     served, images));
  }
  return e;
}

}  // namespace greenbatch::load
