// The study's seven-column CSV files (report/runs.cpp read_study_file). The file is named
// AlexNet_f16 unless the input's first line is "@NAME" (a file name of letters, digits and
// '_'), which names it instead and is not part of the file.
#include <algorithm>
#include <cctype>

#include "fuzz_common.hpp"
#include "report/runs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  std::string_view text = fuzz::as_text(data, size);
  std::string name = "AlexNet_f16";
  if (text.starts_with('@')) {
    const std::size_t nl = text.find('\n');
    const std::string_view given = text.substr(1, nl == std::string_view::npos ? std::string_view::npos : nl - 1);
    if (!given.empty() && given.size() < 200 &&
        std::all_of(given.begin(), given.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; })) {
      name = given;
    }
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  const std::string path = fuzz::write_temp(name, text);
  fuzz::expect_user_errors([&] {
    if (report::is_study_file(path)) {
      const auto runs = report::read_study_file(path);
      (void)report::aggregate(runs);
    } else {
      (void)report::read_study_file(path);
    }
  });
  return 0;
}
