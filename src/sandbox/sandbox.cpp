#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/util.h"

namespace a4ps::sandbox {
namespace {

using json = nlohmann::json;
constexpr uid_t kNobody = 65534;
const char* kPython = "/usr/bin/python3";

fs::path runtime_dir() {
  if (const char* d = std::getenv("A4PS_PYTHON_DIR"); d && *d) return d;
  return A4PS_PYTHON_DIR;
}

// The OCI bundle gVisor runs: an empty read-only root with the host's /usr (and the
// merged-/usr symlinks) read-only, the runtime, a private /tmp and the workspace.
std::string oci_config(const Options& o) {
  const Limits& l = o.limits;
  json rl = json::array({{{"type", "RLIMIT_CPU"}, {"hard", l.cpu_s}, {"soft", l.cpu_s}},
                         {{"type", "RLIMIT_AS"}, {"hard", l.memory_bytes}, {"soft", l.memory_bytes}},
                         {{"type", "RLIMIT_NPROC"}, {"hard", l.processes}, {"soft", l.processes}},
                         {{"type", "RLIMIT_FSIZE"}, {"hard", l.file_bytes}, {"soft", l.file_bytes}},
                         {{"type", "RLIMIT_NOFILE"}, {"hard", 256}, {"soft", 256}}});
  auto ro = [](const std::string& src, const std::string& dst) {
    return json{{"destination", dst}, {"type", "bind"}, {"source", src}, {"options", {"rbind", "ro"}}};
  };
  json c = {
      {"ociVersion", "1.0.0"},
      {"process", {{"terminal", false}, {"user", {{"uid", kNobody}, {"gid", kNobody}}},
                   {"args", {kPython, "-I", "/a4ps/a4ps_runtime.py"}},
                   {"env", {"PATH=/usr/bin", "HOME=/tmp", "A4PS_OUTPUT_LIMIT=" + std::to_string(l.output_bytes)}},
                   {"cwd", "/work"}, {"rlimits", rl}, {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"mounts", {ro("/usr", "/usr"), ro("/lib", "/lib"), ro("/lib64", "/lib64"), ro(runtime_dir().string(), "/a4ps"),
                  {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                  {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "nodev", "size=64m"}}},
                  {{"destination", "/work"}, {"type", "bind"}, {"source", o.workspace.string()}, {"options", {"rbind", "rw"}}}}},
      {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}}}}}};
  return c.dump(2);
}

}  // namespace

const char* provider_name(Provider p) {
  return p == Provider::GVisor ? "gvisor" : p == Provider::Bwrap ? "bwrap" : "none";
}

Provider parse_provider(const std::string& s) {
  if (s == "gvisor") return Provider::GVisor;
  if (s == "bwrap") return Provider::Bwrap;
  if (s == "none") return Provider::None;
  throw Error("unknown sandbox '" + s + "'; use gvisor, bwrap or none");
}

struct Kernel::Impl {
  Options opts;
  pid_t pid = -1;
  int to_kernel = -1, from_kernel = -1;
  std::string pending;  // bytes read past the last answer
  fs::path bundle;      // gVisor: bundle and state folders
  std::string container;
  int generation = 0;
  std::function<json(const std::string&, const json&)> reflect;

  ~Impl() { stop(); }

  void stop() {
    if (pid > 0 && to_kernel >= 0) {
      // Closing its input ends the kernel cleanly, and runsc then tears down its sandbox
      // at once; a killed `runsc run` leaves that to `delete --force`, which takes seconds.
      close(to_kernel), to_kernel = -1;
      for (int i = 0; i < 100 && pid > 0; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) pid = -1;
        else usleep(5000);
      }
    }
    if (pid > 0) {
      kill(-pid, SIGKILL);  // the whole session: the kernel and anything it started
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    if (!container.empty()) {  // gVisor's sandbox processes outlive a killed `runsc run`
      std::string cmd = "runsc --root '" + (bundle / "state").string() + "' delete --force " + container + " >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
      }
      container.clear();
    }
    if (to_kernel >= 0) close(to_kernel), to_kernel = -1;
    if (from_kernel >= 0) close(from_kernel), from_kernel = -1;
    pending.clear();
  }

  void spawn() {
    const Limits& l = opts.limits;
    std::vector<std::string> argv;
    std::string rt = runtime_dir().string(), ws = opts.workspace.string();
    bool drop_privileges = false;
    switch (opts.provider) {
      case Provider::Bwrap:
        argv = {"bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                "--symlink", "usr/bin", "/bin", "--ro-bind", rt, "/a4ps", "--bind", ws, "/work", "--proc", "/proc",
                "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/work", "--unshare-all", "--die-with-parent",
                "--new-session", "--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp",
                "--setenv", "A4PS_OUTPUT_LIMIT", std::to_string(l.output_bytes), kPython, "-I", "/a4ps/a4ps_runtime.py"};
        drop_privileges = true;
        break;
      case Provider::GVisor: {
        container = "a4ps-" + random_id().substr(0, 12);
        bundle = fs::temp_directory_path() / container;
        for (auto d : {"rootfs/usr", "rootfs/lib", "rootfs/lib64", "rootfs/a4ps", "rootfs/proc", "rootfs/tmp", "rootfs/work", "state"})
          fs::create_directories(bundle / d);
        std::ofstream(bundle / "config.json") << oci_config(opts);
        argv = {"runsc", "--network=none", "--root", (bundle / "state").string(), "run", "--bundle", bundle.string(), container};
        break;
      }
      case Provider::None:
        if (!opts.allow_unsafe)
          throw Error("sandbox 'none' runs agent code with no isolation; pass the explicit unsafe flag to allow it");
        argv = {kPython, "-I", rt + "/a4ps_runtime.py"};
        drop_privileges = true;
        break;
    }
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw Error("cannot create pipes for the sandbox");
    pid_t child = fork();
    if (child < 0) throw Error("cannot start the sandbox (fork failed)");
    if (child == 0) {
      setsid();
      dup2(in[0], 0);
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      if (opts.provider == Provider::None && chdir(ws.c_str()) != 0) _exit(126);
      auto lim = [](int r, rlim_t v) {
        rlimit x{v, v};
        setrlimit(r, &x);
      };
      if (opts.provider != Provider::GVisor) {  // gVisor applies them inside, from the bundle
        lim(RLIMIT_CPU, static_cast<rlim_t>(l.cpu_s));
        lim(RLIMIT_AS, l.memory_bytes);
        lim(RLIMIT_FSIZE, l.file_bytes);
        lim(RLIMIT_NPROC, static_cast<rlim_t>(l.processes));
      }
      if (drop_privileges && geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0))
        _exit(126);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    pid = child;
    to_kernel = in[1];
    from_kernel = out[0];
    ++generation;
  }

  Result run(const std::string& code) {
    Result r;
    auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
    if (pid < 0) spawn();
    std::string line = json{{"code", code}}.dump() + "\n";
    signal(SIGPIPE, SIG_IGN);
    if (write(to_kernel, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      stop();
      r.crashed = true;
      r.error = "the sandbox kernel was not running; it restarts on the next run";
      r.ms = ms();
      return r;
    }
    const size_t cap = 4 * opts.limits.output_bytes + (1 << 20);  // the answer's JSON, at most
    for (;;) {
      if (auto nl = pending.find('\n'); nl != std::string::npos) {
        json a = json::parse(pending.substr(0, nl), nullptr, false);
        pending.erase(0, nl + 1);
        if (a.is_discarded()) continue;
        if (a.contains("reflect")) {  // a question from the running code; answer and keep waiting
          json reply;
          try {
            if (!reflect) throw Error("no reflection is available in this sandbox");
            reply = {{"ok", true}, {"value", reflect(a.value("reflect", ""), a.value("args", json::object()))}};
          } catch (const std::exception& e) {
            reply = {{"ok", false}, {"error", e.what()}};
          }
          std::string out = reply.dump() + "\n";
          if (write(to_kernel, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
            stop();
            r.crashed = true;
            r.error = "the sandbox kernel died while asking the host a question";
            return r;
          }
          continue;
        }
        r.ok = a.value("ok", false);
        r.stdout_text = a.value("stdout", "");
        r.stderr_text = a.value("stderr", "");
        r.value = a["value"].is_string() ? a["value"].get<std::string>() : "";
        r.error_type = a.value("error_type", "");
        r.error = a.value("error", "");
        r.traceback = a.value("traceback", "");
        r.truncated = a.value("truncated", false);
        r.ms = ms();
        return r;
      }
      int left = opts.limits.wall_ms - static_cast<int>(ms());
      pollfd p{from_kernel, POLLIN, 0};
      int n = left > 0 ? poll(&p, 1, left) : 0;
      if (n == 0) {
        stop();
        r.timed_out = true;
        r.error = "the run exceeded its wall-time limit of " + std::to_string(opts.limits.wall_ms) + " ms; the kernel was restarted";
        r.ms = ms();
        return r;
      }
      char buf[65536];
      ssize_t got = read(from_kernel, buf, sizeof buf);
      if (got <= 0 || pending.size() + static_cast<size_t>(got) > cap) {
        stop();
        r.crashed = true;
        r.error = got <= 0 ? "the sandbox kernel died (a limit or a signal); it restarts on the next run"
                           : "the answer exceeded the output limit; the kernel was restarted";
        r.ms = ms();
        return r;
      }
      pending.append(buf, static_cast<size_t>(got));
    }
  }
};

Kernel::Kernel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Kernel::~Kernel() {
  if (impl_ && !impl_->bundle.empty()) {
    impl_->stop();
    std::error_code ec;
    fs::remove_all(impl_->bundle, ec);
  }
}

std::unique_ptr<Kernel> Kernel::start(const Options& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.workspace.empty()) throw Error("the sandbox needs a workspace folder");
  std::error_code ec;
  fs::create_directories(impl->opts.workspace, ec);
  impl->opts.workspace = fs::absolute(impl->opts.workspace);
  // The kernel runs as an unprivileged user; the workspace is its only writable place.
  if (geteuid() == 0 && chown(impl->opts.workspace.c_str(), kNobody, kNobody) != 0)
    throw Error("cannot hand the workspace " + impl->opts.workspace.string() + " to the sandbox user");
  if (opts.provider != Provider::GVisor && geteuid() == 0)  // bwrap starts as that user: it must reach the folder
    for (fs::path p = impl->opts.workspace.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      struct stat st {};
      if (stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH))
        throw Error("the sandbox user cannot reach the workspace " + impl->opts.workspace.string() + ": " + p.string() +
                    " is closed to others (chmod o+x it, or put the workspace elsewhere)");
    }
  if (!fs::exists(runtime_dir() / "a4ps_runtime.py"))
    throw Error("the sandbox runtime is missing from " + runtime_dir().string() + "; set A4PS_PYTHON_DIR");
  impl->spawn();
  return std::unique_ptr<Kernel>(new Kernel(std::move(impl)));
}

Result Kernel::run(const std::string& code) { return impl_->run(code); }
Provider Kernel::provider() const { return impl_->opts.provider; }
void Kernel::set_reflection(std::function<json(const std::string&, const json&)> answer) { impl_->reflect = std::move(answer); }

std::vector<Check> doctor() {
  std::vector<Check> out;
  for (Provider p : {Provider::GVisor, Provider::Bwrap, Provider::None}) {
    Check c{p};
    const char* tool = p == Provider::GVisor ? "runsc" : p == Provider::Bwrap ? "bwrap" : nullptr;
    std::string which = tool ? std::string("command -v ") + tool + " >/dev/null 2>&1" : "true";
    if (std::system(which.c_str()) != 0) {
      c.detail = std::string(tool) + " is not installed (Debian package " + (p == Provider::GVisor ? "runsc" : "bubblewrap") + ")";
    } else {
      try {
        fs::path ws = fs::temp_directory_path() / ("a4ps-doctor-" + random_id().substr(0, 8));
        Options o{.provider = p, .limits = {.wall_ms = 20000}, .workspace = ws, .allow_unsafe = true};
        Result r;
        {
          auto k = Kernel::start(o);
          r = k->run("6 * 7");
        }
        fs::remove_all(ws);
        c.works = r.ok && r.value == "42";
        c.detail = c.works ? (p == Provider::None ? "works, but gives no isolation" : "ran Python in " + std::to_string(static_cast<int>(r.ms)) + " ms")
                           : "failed: " + (r.error.empty() ? std::string("no answer") : r.error);
      } catch (const Error& e) {
        c.detail = std::string("failed: ") + e.what();
      }
    }
    out.push_back(c);
  }
  return out;
}

Provider strongest() {
  for (auto& c : doctor())
    if (c.works && c.provider != Provider::None) return c.provider;
  throw Error("no sandbox works on this machine (see `a4ps doctor`); install runsc or bubblewrap");
}

}  // namespace a4ps::sandbox
