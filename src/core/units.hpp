#pragma once
// Parsing of the small value languages used on the command line and in files:
// durations ("50ms"), powers ("150W"), numbers, and "name:key=value,key=value" specs.
#include <map>
#include <string>
#include <vector>
#include <string_view>

#include "core/time.hpp"

namespace greenbatch {

// "500ns", "100us", "2ms", "1.5s". A unit is required. Throws UserError naming `what`.
TimeNs parse_duration_ns(std::string_view text, std::string_view what);
// "150W", "150" or "0.5kW" -> watts. Throws UserError naming `what`.
double parse_power_w(std::string_view text, std::string_view what);
// A finite decimal number. Throws UserError naming `what`.
double parse_double(std::string_view text, std::string_view what);
// A whole number >= 0. Throws UserError naming `what`.
long long parse_integer(std::string_view text, std::string_view what);

// "key=value,key=value" -> map; keys must be in `allowed` (comma-separated list, for the
// message). Throws UserError on a malformed pair, a repeated or an unknown key.
std::map<std::string, std::string> parse_key_values(std::string_view text, std::string_view what,
                                                    std::string_view allowed);

// Splits "name:rest" at the first ':' (rest is empty when there is none).
std::pair<std::string, std::string> split_spec(std::string_view spec);

// Canonical spec form, in the largest unit that keeps it whole: "50ms", "100us", "0s".
std::string duration_spec(TimeNs ns);

// Human-readable duration: "15.6 ms", "5 us", "1.25 s".
std::string format_duration(TimeNs ns);
// The same for a duration in seconds (rounded to the nanosecond).
std::string format_duration_s(double seconds);

// A comma-separated list of a flag's values; empty items dropped ("a,,b," gives a and b).
std::vector<std::string> split_list(const std::string& s);

}  // namespace greenbatch
