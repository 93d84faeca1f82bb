#include "load/target.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/error.hpp"

namespace greenbatch::load {

std::string Target::url() const { return fmt::format("http://{}:{}", host, port); }

Target parse_target(std::string_view url) {
  const auto refuse = [&](std::string_view why) -> UserError {
    return UserError(fmt::format("URL '{}': {}; accepted: http://HOST:PORT (e.g. http://127.0.0.1:8000)", url, why));
  };
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) throw refuse("only http:// is supported");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) throw refuse("no path is accepted (the protocol's paths are fixed)");
  if (rest.find('@') != std::string_view::npos) throw refuse("no user information is accepted");
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) throw refuse("the port is missing");
  const std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
  if (host.empty()) throw refuse("the host is missing");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) throw refuse(fmt::format("the host has '{}' (names and IPv4 addresses only)", c));
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    throw refuse("the port must be a whole number from 1 to 65535");
  }
  return Target{std::string(host), static_cast<std::uint16_t>(value)};
}

namespace {
bool model_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}
}  // namespace

void check_model_name(const std::string& name, const std::string& what) {
  if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), model_name_char)) {
    throw UserError(fmt::format("{} '{}': a model's name on a server is a URL path segment; accepted: 1 to 128 "
                                "letters, digits, '_', '-' or '.'",
                                what, name));
  }
}

std::string url_safe_name(const std::string& name) {
  std::string out = name.substr(0, 128);
  for (char& c : out) {
    if (!model_name_char(c)) c = '_';
  }
  return out.empty() ? std::string("model") : out;
}

}  // namespace greenbatch::load
