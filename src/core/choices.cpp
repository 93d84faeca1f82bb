#include "core/choices.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace greenbatch {

void bad_choice(std::string_view what, std::string_view text, const std::string& accepted) {
  throw UserError(fmt::format("{} '{}': accepted: {}", what, text, accepted));
}

}  // namespace greenbatch
