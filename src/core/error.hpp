#pragma once
#include <stdexcept>
#include <string>

namespace greenbatch {

// Bad user input: reported once, as is, with a non-zero exit (no stack trace).
// The message says what was wrong, where, and what is accepted.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace greenbatch
