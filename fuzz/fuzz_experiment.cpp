// Experiment files (io/experiment.cpp load_experiment) and their grid (plan_runs). Lines of the
// input that start with "#@set " (TOML comments) are passed as --set overrides as well.
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "io/experiment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  const std::string_view text = fuzz::as_text(data, size);
  std::vector<std::string> sets;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.starts_with("#@set ")) sets.emplace_back(line.substr(6));
    start = end + 1;
  }
  const std::string path = fuzz::write_temp("experiment.toml", text);
  fuzz::expect_user_errors([&] {
    // Models are not looked up on disk: the fuzzer cannot create them.
    const Experiment e = load_experiment(path, sets, /*check_models=*/false);
    plan_runs(e);
  });
  return 0;
}
