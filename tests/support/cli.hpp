#pragma once
// Runs the greenbatch binary (GREENBATCH_EXE, set by CMake) with arguments; returns its exit
// status and everything it printed (stdout and stderr).
#include <string>

#include "support/process.hpp"

namespace greenbatch::testing {

inline CliResult run_greenbatch(const std::string& args) {
  return run_command(std::string(GREENBATCH_EXE) + " " + args);
}

}  // namespace greenbatch::testing
