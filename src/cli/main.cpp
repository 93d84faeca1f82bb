// greenbatch: measures how batching changes energy per inference and response times.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "build_info.hpp"
#include "cli/commands.hpp"
#include "core/error.hpp"

// Exit codes, and nothing else: 0 success, 1 a run failed (its record written), 2 bad input,
// 130 interrupted (Ctrl-C), 70 a bug in greenbatch.
int main(int argc, char** argv) {
  CLI::App app{"greenbatch: measure how batching changes the energy per inference and the response times of a "
               "neural network, and find the batching policy to run"};
  app.set_version_flag("--version", fmt::format("greenbatch {} ({})", greenbatch::build::kVersion,
                                                greenbatch::build::kGitRev));
  app.require_subcommand(1);
  greenbatch::cli::Action action;
  greenbatch::cli::add_run_command(app, action);
  greenbatch::cli::add_serve_command(app, action);
  greenbatch::cli::add_load_command(app, action);
  greenbatch::cli::add_info_command(app, action);
  greenbatch::cli::add_sweep_command(app, action);
  greenbatch::cli::add_summarize_command(app, action);
  greenbatch::cli::add_profile_commands(app, action);
  greenbatch::cli::add_report_commands(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version (CLI::Success and its kin) print and exit 0; anything else is a flag
    // CLI11 could not parse or a check refused: bad input, CLI11's message, exit 2.
    app.exit(e);
    return e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success) ? 0 : 2;
  }
  try {
    return action();
  } catch (const greenbatch::UserError& e) {
    std::fprintf(stderr, "greenbatch: error: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder that cannot be created or read, a file in the way: the user's to fix, not a bug.
    std::fprintf(stderr, "greenbatch: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greenbatch: internal error: %s\n(this is a bug in greenbatch; please report it)\n", e.what());
    return 70;
  }
}
