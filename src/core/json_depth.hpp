#pragma once
// How deeply a JSON text nests, counted on the raw text before any parser sees it: nlohmann's
// parser and its copies recurse per level, so 100,000 levels would overflow the stack. Readers
// of outside JSON (runs.jsonl, profiles, the server's requests) refuse deep texts with it.
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace greenbatch {

// The deepest nesting of arrays and objects in TEXT (brackets inside strings not counted).
inline std::size_t json_nesting_depth(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace greenbatch
