#pragma once
// Runs a shell command line; returns its exit status and everything it printed (stdout and
// stderr).
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace greenbatch::testing {

struct CliResult {
  int code;
  std::string output;
};

inline CliResult run_command(const std::string& command_line) {
  const std::string cmd = command_line + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace greenbatch::testing
