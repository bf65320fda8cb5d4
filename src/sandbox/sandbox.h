// The sandbox: agent code never runs in the A4PS process. A persistent Python kernel
// (python/a4ps_runtime.py) runs inside gVisor (runsc, an OCI bundle over a read-only
// minimal root, in a user namespace of its own: the same for root and a normal user),
// bubblewrap (namespaces plus a seccomp filter), or nothing at all (refused unless
// forced), with no network, nothing of the host's environment or processes, and limits
// on wall time, CPU, memory, processes, output, file size, /tmp and the workspace. The
// workspace is a size-limited tmpfs at /work, seeded from the host folder when the kernel
// starts and saved back to it after every run, so the host disk never holds more than
// the quota. A kernel that crashes or hits a limit is restarted for the next run.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace a4ps {
class Env;
}

namespace a4ps::sandbox {

namespace fs = std::filesystem;

enum class Provider { GVisor, Bwrap, None };
const char* provider_name(Provider p);        // "gvisor", "bwrap", "none"
Provider parse_provider(const std::string& s);  // throws Error

struct Limits {
  int wall_ms = 10000;                 // per run; the kernel is killed and restarted past it
  int cpu_s = 10;                      // RLIMIT_CPU, each process
  uint64_t memory_bytes = 1ull << 30;  // RLIMIT_AS, each process
  int processes = 64;                  // processes and threads inside this sandbox (not the user's others)
  size_t output_bytes = 64 << 10;      // stdout and stderr, each
  uint64_t file_bytes = 16 << 20;      // RLIMIT_FSIZE: one file
  uint64_t workspace_bytes = 64 << 20; // /work altogether (a tmpfs of this size)
  int workspace_files = 4096;          // files /work may hold when it is saved
  uint64_t tmp_bytes = 64 << 20;       // /tmp (a tmpfs of this size)
};

struct Options {
  Provider provider = Provider::GVisor;
  Limits limits;
  fs::path workspace;        // host folder: seeds /work, and receives it after each run (created if missing)
  bool allow_unsafe = false;  // required for Provider::None
  Env* env = nullptr;         // where $A4PS_PYTHON_DIR is read; nullptr: Env::Default()
};

struct Result {
  bool ok = false;
  std::string stdout_text, stderr_text, value, error_type, error, traceback;
  bool truncated = false;   // output was cut at the limit
  bool timed_out = false;   // wall time ran out; the kernel was killed
  bool crashed = false;     // the kernel died (a limit, a signal); it restarts next run
  bool workspace_saved = true;  // false: /work broke a limit and the host folder kept its old state
  double ms = 0;
};

// A running Python kernel. Kernel::start gives a real, sandboxed one; tests of the logic
// around it (forge, agent) can use FakeKernel (fake_kernel.h) on any machine.
class Kernel {
 public:
  static std::unique_ptr<Kernel> start(const Options& opts);  // throws Error
  virtual ~Kernel() = default;
  virtual Result run(const std::string& code) = 0;
  virtual Provider provider() const = 0;
  // Answers the agent code's a4ps_reflect questions (op, args) -> value while it runs;
  // throw Error to answer with an error. Without one, every question is refused.
  virtual void set_reflection(std::function<nlohmann::json(const std::string& op, const nlohmann::json& args)> answer) = 0;
};

// Makes kernels: how the agent and the CLI get one (tests pass one that makes fakes).
using KernelFactory = std::function<std::unique_ptr<Kernel>(const Options&)>;

struct Check {
  Provider provider;
  bool works = false;
  std::string detail;  // why not (with what to change), or what ran
};
std::vector<Check> doctor();  // tries each provider with a tiny program
// The strongest provider that works here (cached for the process); throws if none. When
// it is not the strongest there is, one line on stderr says which one is used and why.
Provider strongest();

}  // namespace a4ps::sandbox
