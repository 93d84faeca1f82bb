#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace greenbatch::cli {

// Each subcommand registers its options on `app`; once parsing succeeds, it puts the work to do
// into `action`, which returns the process exit code.
using Action = std::function<int()>;

void add_run_command(CLI::App& app, Action& action);
void add_info_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);  // sweep and merge
void add_summarize_command(CLI::App& app, Action& action);
void add_profile_commands(CLI::App& app, Action& action);  // profile, simulate, tune
void add_report_commands(CLI::App& app, Action& action);   // report, recommend

}  // namespace greenbatch::cli
