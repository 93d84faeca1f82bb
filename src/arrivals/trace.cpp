#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
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
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UserError(fmt::format("trace {}: is a folder; a trace is a file with one arrival time in seconds per line, "
                                "or a CSV with a 'timestamp' column",
                                path));
  }
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("trace {}: cannot open the file", path));
  // Arrival times past the run's bound (100 years, in seconds) are refused.
  const double max_s = static_cast<double>(limits::kMaxTimeNs) / 1e9;
  bool plain = false;  // one time per line, no header: a line holds exactly one field
  std::vector<TimeNs> out;
  std::optional<std::size_t> column;  // set once the header (or the first value) is seen
  bool first_line = true;
  double first = 0, previous = 0;
  std::string raw;
  std::size_t line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string_view line = raw;
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // a UTF-8 byte-order mark
    line = trim(line);
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
              "trace {}:{}: no 'timestamp' column in the header {} (a trace is one time in "
              "seconds per line, or a CSV with a 'timestamp' column)",
              path, line_no, quote_text(line)));
        }
        continue;
      }
      column = 0;
      plain = true;
    }
    if (plain && cells.size() > 1) {
      throw UserError(fmt::format("trace {}:{}: {} holds {} fields; a trace without a header holds one time in seconds "
                                  "per line (or give a CSV header with a 'timestamp' column)",
                                  path, line_no, quote_text(line), cells.size()));
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
      throw UserError(fmt::format("trace {}:{}: {} is not a time in seconds", path, line_no, quote_text(cell)));
    }
    if (v < 0) {
      throw UserError(fmt::format("trace {}:{}: negative time {}; times must be >= 0", path, line_no, quote_text(cell)));
    }
    if (v > max_s) {
      throw UserError(fmt::format("trace {}:{}: time {} s is past 100 years ({:.0f} s), the latest accepted", path,
                                  line_no, quote_text(cell), max_s));
    }
    if (out.size() >= limits::kMaxRequests) {
      throw UserError(fmt::format("trace {}:{}: more than {} arrivals, the most a run accepts", path, line_no,
                                  limits::kMaxRequests));
    }
    if (out.empty()) {
      first = v;
    } else if (v < previous) {
      throw UserError(fmt::format("trace {}:{}: time {} comes before the previous {}; a trace must be sorted",
                                  path, line_no, quote_text(cell), previous));
    }
    previous = v;
    out.push_back(static_cast<TimeNs>(std::llround((v - first) * 1e9)));
  }
  if (out.empty()) throw UserError(fmt::format("trace {}: no arrival times in the file", path));
  return out;
}

}  // namespace greenbatch
