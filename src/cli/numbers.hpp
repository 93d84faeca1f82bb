#pragma once
// Numeric flags parsed by the library's bounded parsers (core/units.hpp), so that a flag and an
// experiment file refuse the same values with the same message: the bound, readably, never
// CLI11's "Value 0 not in range 0.000000 to 1797...". A refusal is a CLI11 ValidationError
// carrying that message (exit 2).
#include <CLI/CLI.hpp>
#include <string>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch::cli {

// An option whose text goes through `parse(text, flag)`; the result is stored in `target`.
template <typename T, typename Parse>
CLI::Option* add_parsed(CLI::App* app, const std::string& flag, T& target, const std::string& help,
                        const std::string& default_text, Parse parse) {
  return app
      ->add_option_function<std::string>(
          flag,
          [&target, flag, parse](const std::string& text) {
            try {
              target = static_cast<T>(parse(text, flag));
            } catch (const UserError& e) {
              throw CLI::ValidationError(e.what());
            }
          },
          help)
      ->default_str(default_text);
}

// A whole number from `min` to `max`.
template <typename T>
CLI::Option* add_whole(CLI::App* app, const std::string& flag, T& target, const std::string& help, std::uint64_t min,
                       std::uint64_t max) {
  return add_parsed(app, flag, target, help, std::to_string(target), [min, max](const std::string& t, const std::string& f) {
    return parse_whole(t, f, min, max);
  });
}

// --preprocess-threads: auto (-1) or a whole number of worker threads from 0.
inline CLI::Option* add_preprocess_threads(CLI::App* app, int& target) {
  return add_parsed(app, "--preprocess-threads", target,
                    "With --preprocess per-request: worker threads that decode and transform each request as it "
                    "arrives, off the batch's critical path; auto: a quarter of the cores for a CPU model (at least 2), "
                    "half of them (2 to 8) for a GPU model; 0: each batch prepares its requests when it runs",
                    target < 0 ? std::string("auto") : std::to_string(target),
                    [](const std::string& t, const std::string& f) {
                      if (t == "auto") return -1;
                      return static_cast<int>(parse_whole(t, f + " (or auto)", 0, limits::kMaxThreads));
                    });
}

// A seed: 0 to 2^64 - 1.
inline CLI::Option* add_seed(CLI::App* app, std::uint64_t& target, const std::string& help) {
  return add_parsed(app, "--seed", target, help, std::to_string(target),
                    [](const std::string& t, const std::string& f) { return parse_seed(t, f); });
}

// A rate in requests per second, within limits::kMinRateHz..kMaxRateHz.
inline CLI::Option* add_rate(CLI::App* app, double& target, const std::string& help) {
  return add_parsed(app, "--rate", target, help, format_bound(target),
                    [](const std::string& t, const std::string& f) { return parse_rate_hz(t, f); });
}

// The schedule's flags run and load share: --rate and --arrivals.
inline void add_rate_and_arrivals(CLI::App* app, double& rate, std::string& arrivals) {
  add_rate(app, rate, "Mean arrival rate in requests per second (ignored with trace:, steps: and diurnal:)");
  app->add_option("--arrivals", arrivals,
                  "Arrival process: constant, jitter:F, poisson, bursty[:burst=B,on=D], trace:FILE, "
                  "steps:R1@D1,R2@D2,... or diurnal:min=R,max=R,period=D (a load that changes; "
                  ",gaps=poisson|constant|jitter:F)")
      ->capture_default_str();
}

}  // namespace greenbatch::cli
