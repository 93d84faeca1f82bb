#include "core/sysinfo.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <sstream>

namespace greenbatch {

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string utc_now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string cpu_model(const std::string& cpuinfo) {
  std::ifstream in(cpuinfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      const auto first = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
      if (first != std::string::npos) return line.substr(first);
    }
  }
  return "unknown";
}

std::vector<std::string> mapped_files(std::istream& maps) {
  std::vector<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    // address perms offset dev inode [path]: the path is what follows the fifth field.
    std::istringstream in(line);
    std::string field;
    for (int k = 0; k < 5 && in >> field; ++k) {
    }
    std::string path;
    std::getline(in >> std::ws, path);
    if (path.empty() || path.front() != '/') continue;  // anonymous, [heap], [stack], ...
    if (const auto deleted = path.rfind(" (deleted)"); deleted != std::string::npos && deleted + 10 == path.size()) {
      path.resize(deleted);
    }
    if (std::find(files.begin(), files.end(), path) == files.end()) files.push_back(path);
  }
  return files;
}

std::optional<std::string> blas_file(const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    const std::string base = f.substr(f.rfind('/') + 1);
    for (const char* prefix : {"libblas.so", "libopenblas", "libblis", "libmkl_rt", "libcblas.so"}) {
      if (base.rfind(prefix, 0) == 0) return f;
    }
  }
  return std::nullopt;
}

std::string blas_kind(const std::string& path) {
  std::string p = path;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto has = [&p](const char* s) { return p.find(s) != std::string::npos; };
  if (has("openblas")) {
    if (has("openmp")) return "OpenBLAS (OpenMP)";
    if (has("pthread")) return "OpenBLAS (pthread)";
    if (has("serial")) return "OpenBLAS (serial)";
    return "OpenBLAS";
  }
  if (has("blis")) return "BLIS";
  if (has("mkl")) return "MKL";
  if (has("atlas")) return "ATLAS";
  if (has("/blas/")) return "reference BLAS";
  return "unknown";
}

BlasInfo loaded_blas() {
  BlasInfo info;
  std::ifstream maps("/proc/self/maps");
  const auto file = blas_file(mapped_files(maps));
  if (!file) {
    info.name = "none loaded";
    return info;
  }
  info.library = *file;
  info.name = blas_kind(*file);
  // OpenBLAS's own functions, found wherever the loader put them (none: another BLAS).
  using GetThreads = int (*)();
  using GetConfig = char* (*)();
  if (auto* threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
    info.threads = threads();
  } else if (info.name == "reference BLAS") {
    info.threads = 1;
  }
  if (auto* config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    if (const char* text = config()) info.config = text;
  }
  return info;
}

}  // namespace greenbatch
