// The sandboxes agent code runs in: which providers work on this machine (and why not),
// the one agent code would use, and the containment suite (attacks agent code could try)
// run live against each — what `a4ps doctor [--security]` shows.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "a4ps/error.h"

namespace a4ps {

struct SandboxCheck {
  std::string provider;  // gvisor, bwrap, none (strongest first)
  bool works = false;
  std::string detail;    // why not (with what to change), or what ran
};
struct SandboxReport {
  std::vector<SandboxCheck> checks;
  std::string chosen;  // the strongest isolating provider that works; "" when none does
};
// Tries each provider with a tiny program.
SandboxReport check_sandboxes();

struct ContainmentCaseInfo {
  std::string name, title, klass;  // klass: host environment, processes, syscalls, network, files, resources
};
const std::vector<ContainmentCaseInfo>& containment_case_list();

struct ContainmentOutcome {
  std::string name, title, klass;
  std::string verdict;  // contained, escaped, n/a, broken
  std::string detail;   // how it was stopped, or what got out
  double ms = 0;
};
struct ProviderSecurity {
  SandboxCheck check;
  std::string skipped;                     // why the suite did not run against it ("" when it did)
  std::vector<ContainmentOutcome> results;  // in suite order
};
struct SecurityReport {
  std::vector<ProviderSecurity> providers;  // as check_sandboxes() orders them
  int escaped = 0, broken = 0;
  bool contained() const { return escaped == 0 && broken == 0; }
};
struct SecurityOptions {
  std::string only;  // only the cases whose name contains this
  std::function<void(const std::string& provider, size_t cases)> on_provider;  // before attacking one
  std::function<void(const std::string& provider, const ContainmentOutcome&)> on_result;  // each case as judged
};
// Runs the suite against every provider that works (never against `none`: no isolation,
// the attacks would hit this machine). Escapes are results, not errors: throws Error only
// when the host fixtures cannot be set up.
SecurityReport run_security_suite(const SecurityOptions& options = {});

}  // namespace a4ps
