// The containment suite: attacks agent code could try (tests/containment/*.py, built into
// the binary), run live against a sandbox provider, each judged contained, escaped or not
// applicable, with host-side checks where the sandbox cannot see the damage (survivors,
// the workspace on the host disk, datagrams that reached the host, output size).
// `a4ps doctor --security` prints it per provider; the tests assert every case contained.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace a4ps::sandbox {

struct ContainmentCase {
  std::string name;    // the file name without .py
  std::string title;   // what a person reads
  std::string klass;   // host environment, processes, syscalls, network, files, resources
  std::string source;  // the Python, with its header
};
const std::vector<ContainmentCase>& containment_cases();

enum class Verdict { Contained, Escaped, NotApplicable, Broken };
const char* verdict_name(Verdict v);  // "contained", "escaped", "n/a", "broken"

struct ContainmentResult {
  std::string name, title, klass;
  Verdict verdict = Verdict::Broken;
  std::string detail;  // how it was stopped, or what got out
  double ms = 0;
};

// Runs every case (or those whose name contains `only`) in fresh kernels of `provider`;
// `progress` sees each result as it is judged. Throws Error only when the host fixtures
// cannot be set up; a provider that cannot start gives Broken results with the reason.
std::vector<ContainmentResult> run_containment(Provider provider, const std::string& only = "",
                                               const std::function<void(const ContainmentResult&)>& progress = {});

// Processes on the host whose command line holds `text` (survivors of a sandbox).
std::vector<int> host_processes_with(const std::string& text);

}  // namespace a4ps::sandbox
