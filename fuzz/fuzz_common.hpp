#pragma once
// Shared by the fuzz targets: bad input must end as a UserError; anything else escaping is a
// finding (the process aborts, so libFuzzer saves the input), as are crashes, sanitizer
// reports, hangs and memory blow-ups.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace greenbatch::fuzz {

// Runs `fn`; a UserError is the expected outcome of bad input, any other exception aborts.
template <typename Fn>
void expect_user_errors(Fn&& fn) {
  try {
    fn();
  } catch (const UserError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: exception other than UserError escaped: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz finding: a non-std exception escaped\n");
    std::abort();
  }
}

// A private folder for this process's temporary files (removed at exit is not needed: one
// folder per process, under $TMPDIR).
inline const std::string& temp_folder() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/greenbatch-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  return dir;
}

// Writes `bytes` to temp_folder()/name (replacing it) and returns the path.
inline std::string write_temp(const std::string& name, std::string_view bytes) {
  const std::string path = temp_folder() + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::perror("open");
    std::abort();
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      std::perror("write");
      std::abort();
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return path;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace greenbatch::fuzz
