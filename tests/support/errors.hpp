#pragma once
// The message of the UserError a call throws, for tests that check what a refusal says.
#include <string>

#include "core/error.hpp"

namespace greenbatch::testing {

// The UserError's message, or "" when `fn` returns without one.
template <typename Fn>
std::string user_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace greenbatch::testing
