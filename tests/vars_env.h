// An Env whose environment variables are the test's own: code that reads them through
// the Env it was given sees these, whatever the process environment says.
#pragma once
#include <initializer_list>
#include <map>
#include <optional>
#include <string>

#include "util/env.h"

namespace a4ps::test {

class VarsEnv : public EnvWrapper {
 public:
  explicit VarsEnv(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : EnvWrapper(Env::Default()), vars_(vars) {}
  std::optional<std::string> getenv(const char* name) override {
    auto it = vars_.find(name);
    if (it == vars_.end()) return std::nullopt;  // unset here, even when the process has it
    return it->second;
  }

 private:
  std::map<std::string, std::string> vars_;
};

}  // namespace a4ps::test
