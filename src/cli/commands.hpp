#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/carbon.hpp"
#include "core/choices.hpp"
#include "core/knobs.hpp"
#include "core/error.hpp"

namespace greenbatch {
struct RunSpec;
struct Energy;
}  // namespace greenbatch

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

// run's and serve's shared flags: the model and backend (--model, --device, --threads,
// --graph-optimize, --preprocess, --preprocess-threads, --host-memory, --models-dir, --images,
// --warmup-batches, --warmup-batch-size) and the meter (--meter, --idle-window).
void add_model_options(CLI::App* sub, RunSpec& spec);
// The numeric path's knobs (core/knobs.hpp): --precision, --memory-format, --cuda-graphs,
// --power-limit. In add_model_options, and profile's.
void add_knob_options(CLI::App* sub, Knobs& knobs);
void add_meter_options(CLI::App* sub, RunSpec& spec, std::string& idle_window);
// "0.123 J/image (... J in ... s, method ...)" and its warnings, or why it was not measured.
std::string energy_line(const Energy& e);
// "0.123 g CO2e (1.2 mg per image) at 350 gCO2e/kWh (350 gCO2e/kWh)", ESTIMATED first when it is.
std::string carbon_line(const Carbon& c);

void add_run_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_load_command(CLI::App& app, Action& action);
void add_info_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);  // sweep and merge
void add_summarize_command(CLI::App& app, Action& action);
void add_profile_commands(CLI::App& app, Action& action);  // profile, simulate, tune
void add_report_commands(CLI::App& app, Action& action);   // report, recommend

}  // namespace greenbatch::cli
