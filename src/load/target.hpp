#pragma once
// Where `greenbatch load` sends: http://HOST:PORT (pure; unit-tested).
#include <cstdint>
#include <string>
#include <string_view>

namespace greenbatch::load {

struct Target {
  std::string host;
  std::uint16_t port = 0;
  std::string url() const;  // "http://HOST:PORT"
};

// "http://HOST:PORT" with an optional trailing "/"; HOST a name or an IPv4 address, PORT 1 to
// 65535. Anything else (https, a path, no port, user info, IPv6) throws UserError saying what is
// accepted.
Target parse_target(std::string_view url);

// A model's name on a server is a URL path segment: 1 to 128 letters, digits, '_', '-' or '.';
// anything else throws UserError naming `what` and saying what is accepted.
void check_model_name(const std::string& name, const std::string& what);
// `name` with every other character replaced by '_', cut to 128 ("synthetic" stays).
std::string url_safe_name(const std::string& name);

}  // namespace greenbatch::load
