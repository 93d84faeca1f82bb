#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <vector>

#include "arrivals/schedule.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    out.push_back(trim(line.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::vector<TimeNs> read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("trace {}: cannot open the file", path));
  std::vector<TimeNs> out;
  std::optional<std::size_t> column;  // set once the header (or the first value) is seen
  bool first_line = true;
  double first = 0, previous = 0;
  std::string raw;
  std::size_t line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const auto cells = split_csv(line);
    if (first_line) {
      first_line = false;
      bool numeric = true;
      try {
        parse_double(cells[0], "trace");
      } catch (const UserError&) {
        numeric = false;
      }
      if (!numeric || cells.size() > 1) {
        if (numeric) {
          throw UserError(fmt::format(
              "trace {}:{}: a CSV trace needs a header line with a 'timestamp' column", path, line_no));
        }
        for (std::size_t i = 0; i < cells.size(); ++i)
          if (lower(cells[i]) == "timestamp") column = i;
        if (!column) {
          throw UserError(fmt::format(
              "trace {}:{}: no 'timestamp' column in the header '{}' (a trace is one time in "
              "seconds per line, or a CSV with a 'timestamp' column)",
              path, line_no, line));
        }
        continue;
      }
      column = 0;
    }
    if (*column >= cells.size()) {
      throw UserError(fmt::format("trace {}:{}: the line has {} columns, the timestamp is column {}",
                                  path, line_no, cells.size(), *column + 1));
    }
    const std::string_view cell = cells[*column];
    double v = 0;
    try {
      v = parse_double(cell, "trace");
    } catch (const UserError&) {
      throw UserError(fmt::format("trace {}:{}: '{}' is not a time in seconds", path, line_no, cell));
    }
    if (v < 0) {
      throw UserError(fmt::format("trace {}:{}: negative time {}; times must be >= 0", path, line_no, cell));
    }
    if (out.empty()) {
      first = v;
    } else if (v < previous) {
      throw UserError(fmt::format("trace {}:{}: time {} comes before the previous {}; a trace must be sorted",
                                  path, line_no, cell, previous));
    }
    previous = v;
    out.push_back(static_cast<TimeNs>(std::llround((v - first) * 1e9)));
  }
  if (out.empty()) throw UserError(fmt::format("trace {}: no arrival times in the file", path));
  return out;
}

}  // namespace greenbatch
