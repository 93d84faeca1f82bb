#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/choices.hpp"
#include "core/error.hpp"

namespace greenbatch::cli {

// Each subcommand registers its options on `app`; once parsing succeeds, it puts the work to do
// into `action`, which returns the process exit code.
using Action = std::function<int()>;

// An option taking one of a fixed set of names (core/choices.hpp), parsed straight into its enum;
// a wrong name is refused while parsing, with what is accepted.
template <typename E>
CLI::Option* add_choice(CLI::App* app, const std::string& flag, E& target, const std::string& help) {
  return app
      ->add_option_function<std::string>(
          flag,
          [&target, flag](const std::string& text) {
            try {
              target = parse_choice<E>(text, flag);
            } catch (const UserError& e) {
              throw CLI::ValidationError(e.what());
            }
          },
          help)
      ->default_str(std::string(name_of(target)));
}

void add_run_command(CLI::App& app, Action& action);
void add_info_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);  // sweep and merge
void add_summarize_command(CLI::App& app, Action& action);
void add_profile_commands(CLI::App& app, Action& action);  // profile, simulate, tune
void add_report_commands(CLI::App& app, Action& action);   // report, recommend

}  // namespace greenbatch::cli
