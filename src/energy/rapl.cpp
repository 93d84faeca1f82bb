#include "energy/rapl.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

unsigned long long to_u64(const std::string& text, const std::string& path) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str()) throw RaplError(fmt::format("{}: '{}' is not a counter value", path, text));
  return v;
}

bool is_package_zone(const std::string& n) {
  auto top = [&](const char* prefix) {
    const std::size_t len = std::strlen(prefix);
    return n.rfind(prefix, 0) == 0 && n.find(':', len) == std::string::npos;
  };
  return top("intel-rapl:") || top("amd-rapl:");
}

}  // namespace

Rapl::ReadFile Rapl::default_reader() {
  return [](const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EACCES || err == EPERM) {
        throw RaplError(fmt::format(
            "cannot read {}: permission denied; RAPL counters are readable by root only on most systems (run as root, "
            "or `sudo chmod a+r /sys/class/powercap/*/energy_uj`)",
            path));
      }
      throw RaplError(fmt::format("cannot read {}: {}", path, std::strerror(err)));
    }
    char buf[128];
    const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    const int err = errno;
    ::close(fd);
    if (n < 0) throw RaplError(fmt::format("cannot read {}: {}", path, std::strerror(err)));
    return std::string(buf, static_cast<std::size_t>(n));
  };
}

std::string Rapl::default_root() {
  const char* env = std::getenv("GREENBATCH_POWERCAP_ROOT");
  return env && *env ? env : "/sys/class/powercap";
}

Rapl::Rapl(std::string root, ReadFile read) : root_(std::move(root)), read_(std::move(read)) {
  std::error_code ec;
  std::vector<fs::path> packages;
  for (const auto& e : fs::directory_iterator(root_, ec)) {
    if (is_package_zone(e.path().filename().string())) packages.push_back(e.path());
  }
  std::sort(packages.begin(), packages.end());
  auto add = [&](const fs::path& dir) {
    Zone z;
    z.dir = dir.string();
    z.name = fs::exists(dir / "name") ? trim(read_((dir / "name").string())) : dir.filename().string();
    if (z.name == "psys") return;  // the whole platform: overlaps the packages
    z.max_range_uj = to_u64(trim(read_((dir / "max_energy_range_uj").string())), z.dir);
    z.last_uj = read_uj(z);
    zones_.push_back(z);
  };
  for (const fs::path& pkg : packages) {
    add(pkg);
    std::vector<fs::path> subs;
    for (const auto& e : fs::directory_iterator(pkg, ec)) {
      if (e.path().filename().string().rfind(pkg.filename().string() + ":", 0) == 0) subs.push_back(e.path());
    }
    std::sort(subs.begin(), subs.end());
    for (const fs::path& sub : subs) {
      if (fs::exists(sub / "name") && trim(read_((sub / "name").string())) == "dram") add(sub);
    }
  }
  if (zones_.empty()) {
    throw RaplError(fmt::format("no RAPL package zones (intel-rapl:N or amd-rapl:N) under {}", root_));
  }
}

unsigned long long Rapl::read_uj(const Zone& z) const {
  const std::string path = z.dir + "/energy_uj";
  return to_u64(trim(read_(path)), path);
}

double Rapl::joules() {
  std::lock_guard<std::mutex> lock(mu_);
  unsigned long long total = 0;
  for (Zone& z : zones_) {
    const unsigned long long now = read_uj(z);
    // A smaller value means the counter wrapped at max_energy_range_uj.
    z.total_uj += now >= z.last_uj ? now - z.last_uj : z.max_range_uj - z.last_uj + now;
    z.last_uj = now;
    total += z.total_uj;
  }
  return static_cast<double>(total) / 1e6;
}

std::vector<std::string> Rapl::zones() const {
  std::vector<std::string> out;
  for (const Zone& z : zones_) out.push_back(fmt::format("{} ({})", fs::path(z.dir).filename().string(), z.name));
  return out;
}

}  // namespace greenbatch
