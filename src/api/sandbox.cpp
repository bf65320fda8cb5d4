// The public sandbox API: the doctor's checks and the containment suite, over src/sandbox.
#include "a4ps/sandbox.h"

#include "sandbox/containment.h"
#include "sandbox/sandbox.h"

namespace a4ps {
namespace {

SandboxCheck check_of(const sandbox::Check& c) { return {sandbox::provider_name(c.provider), c.works, c.detail}; }

}  // namespace

SandboxReport check_sandboxes() {
  SandboxReport r;
  for (auto& c : sandbox::doctor()) {
    r.checks.push_back(check_of(c));
    if (c.works && r.chosen.empty() && c.provider != sandbox::Provider::None) r.chosen = sandbox::provider_name(c.provider);
  }
  return r;
}

const std::vector<ContainmentCaseInfo>& containment_case_list() {
  static const std::vector<ContainmentCaseInfo> list = [] {
    std::vector<ContainmentCaseInfo> v;
    for (auto& c : sandbox::containment_cases()) v.push_back({c.name, c.title, c.klass});
    return v;
  }();
  return list;
}

SecurityReport run_security_suite(const SecurityOptions& o) {
  SecurityReport rep;
  for (auto& ch : sandbox::doctor()) {
    ProviderSecurity ps{.check = check_of(ch)};
    const std::string& name = ps.check.provider;
    if (ch.provider == sandbox::Provider::None) {
      ps.skipped = "not run: no isolation, the attacks would hit this machine";
    } else if (!ch.works) {
      ps.skipped = "not applicable: " + ch.detail;
    } else {
      if (o.on_provider) o.on_provider(name, sandbox::containment_cases().size());
      for (auto& r : sandbox::run_containment(ch.provider, o.only, [&](const sandbox::ContainmentResult& r) {
             if (o.on_result) o.on_result(name, {r.name, r.title, r.klass, sandbox::verdict_name(r.verdict), r.detail, r.ms});
           })) {
        ps.results.push_back({r.name, r.title, r.klass, sandbox::verdict_name(r.verdict), r.detail, r.ms});
        rep.escaped += r.verdict == sandbox::Verdict::Escaped;
        rep.broken += r.verdict == sandbox::Verdict::Broken;
      }
    }
    rep.providers.push_back(std::move(ps));
  }
  return rep;
}

}  // namespace a4ps
