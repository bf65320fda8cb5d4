// a4ps::Error: every error that reaches a user is one line saying what was wrong and
// what to do. The public API throws it (and nothing else, but std::bad_alloc).
#pragma once
#include <stdexcept>

namespace a4ps {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace a4ps
