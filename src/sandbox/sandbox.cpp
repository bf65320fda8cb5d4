#include "sandbox/sandbox.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "sandbox/seccomp.h"
#include "util/env.h"
#include "util/util.h"

namespace a4ps::sandbox {
namespace {

using json = nlohmann::json;
constexpr uid_t kNobody = 65534;
const char* kPython = "/usr/bin/python3";
// Host processes and threads of one gVisor sandbox (its Go runtime needs about a thousand);
// a backstop below the sandbox's own limit, counted in the sandbox's user namespace only.
constexpr rlim_t kGVisorHostTasks = 4096;
constexpr uint64_t kShmBytes = 16 << 20;  // bwrap's /dev/shm (POSIX semaphores, shared memory)

// The sandbox runtime: $A4PS_PYTHON_DIR, else beside an installed library
// (PREFIX/lib/liba4ps.so -> PREFIX/share/a4ps/python), else the source tree it was built from.
fs::path runtime_dir(Env* env) {
  if (auto d = (env ? env : Env::Default())->getenv("A4PS_PYTHON_DIR"); d && !d->empty()) return *d;
  static const fs::path installed = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&runtime_dir), &info) && info.dli_fname) {
      fs::path p = fs::path(info.dli_fname).parent_path().parent_path() / "share" / "a4ps" / "python";
      std::error_code ec;  // an unreadable parent is "not installed there", not a crash
      if (fs::exists(p / "a4ps_runtime.py", ec)) return p;
    }
    return fs::path();
  }();
  return installed.empty() ? fs::path(A4PS_PYTHON_DIR) : installed;
}

// The kernel's whole environment: nothing of the host's.
std::vector<std::string> kernel_env(const Options& o) {
  const Limits& l = o.limits;
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8",
                                  "A4PS_OUTPUT_LIMIT=" + std::to_string(l.output_bytes)};
  if (o.provider != Provider::None)  // inside a sandbox of its own: the runtime applies these
    env.insert(env.end(), {"A4PS_SANDBOXED=1", "A4PS_NPROC=" + std::to_string(l.processes),
                           "A4PS_WORKSPACE_FILES=" + std::to_string(l.workspace_files)});
  return env;
}

// The OCI bundle gVisor runs: an empty read-only root with the host's /usr (and the
// merged-/usr symlinks) read-only, the runtime, the host workspace read-only as the seed,
// and size-limited tmpfs for /tmp and /work.
std::string oci_config(const Options& o, const std::string& rt, const std::string& seed) {
  const Limits& l = o.limits;
  json rl = json::array({{{"type", "RLIMIT_CPU"}, {"hard", l.cpu_s}, {"soft", l.cpu_s}},
                         {{"type", "RLIMIT_AS"}, {"hard", l.memory_bytes}, {"soft", l.memory_bytes}},
                         {{"type", "RLIMIT_NPROC"}, {"hard", l.processes}, {"soft", l.processes}},
                         {{"type", "RLIMIT_FSIZE"}, {"hard", l.file_bytes}, {"soft", l.file_bytes}},
                         {{"type", "RLIMIT_NOFILE"}, {"hard", 256}, {"soft", 256}}});
  auto ro = [](const std::string& src, const std::string& dst) {
    return json{{"destination", dst}, {"type", "bind"}, {"source", src}, {"options", {"rbind", "ro"}}};
  };
  auto tmpfs = [](const std::string& dst, uint64_t bytes) {
    return json{{"destination", dst}, {"type", "tmpfs"}, {"source", "tmpfs"},
                {"options", {"nosuid", "nodev", "size=" + std::to_string(bytes), "mode=1777"}}};
  };
  json c = {
      {"ociVersion", "1.0.0"},
      {"process", {{"terminal", false}, {"user", {{"uid", kNobody}, {"gid", kNobody}}},
                   {"args", {kPython, "-I", "/a4ps/a4ps_runtime.py"}}, {"env", kernel_env(o)},
                   {"cwd", "/work"}, {"rlimits", rl}, {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"mounts", {ro("/usr", "/usr"), ro("/lib", "/lib"), ro("/lib64", "/lib64"), ro(rt, "/a4ps"), ro(seed, "/a4ps-seed"), {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                  tmpfs("/tmp", l.tmp_bytes), tmpfs("/work", l.workspace_bytes)}},
      {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}}}}}};
  return c.dump(2);
}

// A memfd holding NUL-separated arguments (bwrap --args), so that no process in the
// sandbox shows host paths on its command line.
int args_fd(const std::vector<std::string>& args) {
  int fd = memfd_create("a4ps-args", MFD_CLOEXEC);
  if (fd < 0) throw Error("cannot create a memfd for the sandbox's arguments");
  std::string blob;
  for (auto& a : args) blob += a, blob.push_back('\0');
  if (write(fd, blob.data(), blob.size()) != static_cast<ssize_t>(blob.size()) || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    throw Error("cannot write the sandbox's arguments");
  }
  return fd;
}

// In the child, before exec: a message on fd 2 (the parent reads it as the reason) and out.
[[noreturn]] void child_fail(const char* what) {
  std::string m = std::string("a4ps: ") + what + ": " + std::strerror(errno) + "\n";
  if (write(2, m.data(), m.size()) < 0) {
  }
  _exit(126);
}

bool write_text(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// Whether the sandbox user (nobody, when a4ps runs as root) can reach a folder.
bool reachable(const fs::path& dir) {
  for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH)) return false;
  }
  return true;
}

// A readable copy of a folder nobody cannot reach (root's home, say), for the kernel's
// life: regular files and folders only.
void stage_copy(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  fs::permissions(dst, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(src, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::path to = dst / fs::relative(it->path(), src);
    if (it->is_symlink()) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory()) fs::create_directories(to);
    else if (it->is_regular_file()) fs::copy_file(it->path(), to, fs::copy_options::overwrite_existing);
    else continue;
    fs::permissions(to, fs::perms::others_read | fs::perms::group_read | (it->is_directory() ? fs::perms::others_exec : fs::perms::none),
                    fs::perm_options::add);
  }
}

// A relative path the kernel reported for /work, checked before the host writes it.
bool safe_relative(const std::string& rel) {
  if (rel.empty() || rel.size() > 4096 || rel.front() == '/' || rel.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    std::string part = rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
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

struct Impl {
  Options opts;
  pid_t pid = -1;
  int to_kernel = -1, from_kernel = -1, diag = -1;
  std::string pending;  // bytes read past the last answer
  std::string stderr_tail;  // what the provider (runsc, bwrap) said, for the reason a kernel died
  fs::path bundle;      // gVisor: bundle and state folders
  fs::path staging;     // root only: readable copies of the runtime and the workspace
  int generation = 0;
  std::function<json(const std::string&, const json&)> reflect;

  ~Impl() { stop(); }

  void drain_diag() {
    if (diag < 0) return;
    char buf[4096];
    for (ssize_t n; (n = read(diag, buf, sizeof buf)) > 0;) {
      stderr_tail.append(buf, static_cast<size_t>(n));
      if (stderr_tail.size() > 8192) stderr_tail.erase(0, stderr_tail.size() - 4096);
    }
  }

  // The provider's last words, as one line (runsc and bwrap say why they could not start).
  std::string reason() {
    drain_diag();
    std::string s = stderr_tail;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (auto nl = s.rfind('\n'); nl != std::string::npos) s = s.substr(nl + 1);
    return utf8_clip(utf8_clean(s), 300);
  }

  void stop() {
    if (pid > 0 && to_kernel >= 0) {
      // Closing its input ends the kernel cleanly, and runsc then tears its sandbox down at
      // once; a killed runsc would leave that to `runsc delete`, which takes seconds.
      close(to_kernel), to_kernel = -1;
      for (int i = 0; i < 100 && pid > 0; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) pid = -1;
        else usleep(5000);
      }
    }
    if (pid > 0) {
      // The whole session. For gVisor that includes runsc as pid 1 of its own pid namespace,
      // so the kernel ends every process of the sandbox with it: nothing outlives a kill.
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    for (fs::path* p : {&bundle, &staging})  // runsc's state lives in the bundle: nothing of it remains
      if (!p->empty()) {
        std::error_code ec;
        fs::remove_all(*p, ec);
        p->clear();
      }
    if (to_kernel >= 0) close(to_kernel), to_kernel = -1;
    if (from_kernel >= 0) close(from_kernel), from_kernel = -1;
    drain_diag();
    if (diag >= 0) close(diag), diag = -1;
    pending.clear();
  }

  void spawn() {
    const Limits& l = opts.limits;
    std::vector<std::string> argv;
    std::string rt = runtime_dir(opts.env).string(), ws = opts.workspace.string(), seed = ws;
    const bool seeded = opts.provider != Provider::None;  // `none` works in the folder itself
    if (geteuid() == 0 && (!reachable(rt) || (seeded && !reachable(ws)))) {
      // As root the kernel runs as nobody, which must read the runtime and the workspace.
      staging = fs::temp_directory_path() / ("a4ps-stage-" + random_id().substr(0, 12));
      if (!reachable(rt)) stage_copy(rt, staging / "runtime"), rt = (staging / "runtime").string();
      if (seeded && !reachable(ws)) stage_copy(ws, staging / "seed"), seed = (staging / "seed").string();
      if (!reachable(staging)) throw Error("the sandbox user cannot reach " + staging.parent_path().string() + " (chmod o+x it, or set TMPDIR)");
    }
    std::vector<std::string> env = kernel_env(opts);
    int extra_fd = -1, seccomp_fd = -1;  // become fds 3 and 4 in the child
    switch (opts.provider) {
      case Provider::Bwrap: {
        seccomp_fd = seccomp_bpf_fd();
        std::vector<std::string> args = {
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--ro-bind", rt, "/a4ps", "--ro-bind", seed, "/a4ps-seed",
            "--size", std::to_string(l.workspace_bytes), "--tmpfs", "/work",
            "--size", std::to_string(l.tmp_bytes), "--tmpfs", "/tmp",
            "--proc", "/proc", "--dev", "/dev", "--size", std::to_string(kShmBytes), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/work", "--clearenv"};
        for (auto& kv : env) {
          auto eq = kv.find('=');
          args.insert(args.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
        }
        args.insert(args.end(), {"--seccomp", "4"});
        extra_fd = args_fd(args);
        argv = {"bwrap", "--args", "3", kPython, "-I", "/a4ps/a4ps_runtime.py"};  // the command must follow on argv
        break;
      }
      case Provider::GVisor: {
        std::string container = "a4ps-" + random_id().substr(0, 12);
        bundle = fs::temp_directory_path() / container;
        for (auto d : {"rootfs/usr", "rootfs/lib", "rootfs/lib64", "rootfs/a4ps", "rootfs/a4ps-seed", "rootfs/proc",
                       "rootfs/tmp", "rootfs/work", "state"})
          fs::create_directories(bundle / d);
        std::ofstream(bundle / "config.json") << oci_config(opts, rt, seed);
        if (geteuid() == 0 && chown((bundle / "state").c_str(), kNobody, kNobody) != 0)
          throw Error("cannot hand the sandbox's state folder to the sandbox user");
        // --rootless: runsc runs in the user namespace made below, as the same unprivileged
        // user whether a4ps runs as root or not; no cgroup is needed (none may be delegated).
        argv = {"runsc", "--rootless", "--ignore-cgroups", "--network=none", "--root", (bundle / "state").string(),
                "run", "--bundle", bundle.string(), container};
        env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
        break;
      }
      case Provider::None:
        if (!opts.allow_unsafe)
          throw Error("sandbox 'none' runs agent code with no isolation; pass the explicit unsafe flag to allow it");
        argv = {kPython, "-I", rt + "/a4ps_runtime.py"};
        break;
    }
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
      throw Error("cannot create pipes for the sandbox");
    const bool gvisor = opts.provider == Provider::GVisor, none = opts.provider == Provider::None;
    // The provider gets the pipes as 0-2, the runtime's extra fd as 3 and the seccomp
    // program as 4, and nothing else of this process (the image's database, sockets).
    ProcessSpec ps{.argv = argv, .env = env, .fds = {{0, in[0]}, {1, out[1]}, {2, err[1]}}};
    if (extra_fd >= 0) ps.fds.push_back({3, extra_fd});
    if (seccomp_fd >= 0) ps.fds.push_back({4, seccomp_fd});
    // In the child, just before exec (found on a4ps's own PATH; run with `env` only).
    ps.before_exec = [&] {
      if (none && chdir(ws.c_str()) != 0) child_fail("cannot enter the workspace");
      auto lim = [](int r, rlim_t v) {
        rlimit x{v, v};
        setrlimit(r, &x);
      };
      if (!gvisor) {  // gVisor applies them inside, from the bundle
        lim(RLIMIT_CPU, static_cast<rlim_t>(l.cpu_s));
        lim(RLIMIT_AS, l.memory_bytes);
        lim(RLIMIT_FSIZE, l.file_bytes);
        // RLIMIT_NPROC is set by the runtime inside the sandbox's user namespace, where it
        // counts the sandbox's processes only; set here it would count every process the
        // user has on the machine.
      }
      // As root, every provider runs as nobody: agent code never has root's files.
      if (geteuid() == 0) {
        if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)
          child_fail("cannot switch to the sandbox user");
        prctl(PR_SET_DUMPABLE, 1);  // a changed uid leaves /proc/self root's; the uid map is written there
      }
      if (gvisor) {
        // runsc in a user namespace of its own (uid 0 there = this user), a mount namespace
        // with a fresh /proc, and a pid namespace whose init it is: when runsc dies, the
        // kernel ends every sandbox process, and RLIMIT_NPROC counts only this sandbox.
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER) != 0)
          child_fail("cannot create a user namespace (are unprivileged user namespaces disabled? "
                     "sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces)");
        if (!write_text("/proc/self/setgroups", "deny") || !write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
            !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
          child_fail("cannot map the user into its namespace");
        lim(RLIMIT_NPROC, kGVisorHostTasks);
        if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) child_fail("cannot create the mount and pid namespaces for runsc");
        pid_t init = fork();
        if (init < 0) child_fail("cannot start runsc");
        if (init > 0) {
          int st = 0;
          while (waitpid(init, &st, 0) < 0 && errno == EINTR) {
          }
          _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
          child_fail("cannot mount /proc for runsc");
      }
      if (none && !seccomp_install()) child_fail("cannot install the seccomp filter");
    };
    pid_t child;
    try {
      child = (opts.env ? opts.env : Env::Default())->start_process(ps);
    } catch (const Error&) {
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
      throw Error("cannot start the sandbox (fork failed)");
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (extra_fd >= 0) close(extra_fd);
    if (seccomp_fd >= 0) close(seccomp_fd);
    pid = child;
    to_kernel = in[1];
    from_kernel = out[0];
    diag = err[0];
    fcntl(diag, F_SETFL, O_NONBLOCK);
    stderr_tail.clear();
    ++generation;
  }

  // /work as the kernel reported it after a run: the changed files land in the host folder.
  void save_workspace(const json& w) {
    const fs::path root = opts.workspace;
    auto target = [&](const std::string& rel) -> fs::path {
      if (!safe_relative(rel)) throw Error("the sandbox reported a bad workspace path");
      fs::path p = root;
      for (auto& part : fs::path(rel)) {
        if (fs::is_symlink(p)) throw Error("the workspace holds a symbolic link; it was not saved");
        p /= part;
      }
      return p;
    };
    const json deleted = w.value("deleted", json::array()), files = w.value("files", json::object());
    for (auto& rel : deleted) {
      fs::path p = target(rel.get<std::string>());
      std::error_code ec;
      if (!fs::is_directory(fs::symlink_status(p))) fs::remove(p, ec);
    }
    for (auto& [rel, data] : files.items()) {
      fs::path p = target(rel);
      fs::create_directories(p.parent_path());
      if (fs::is_symlink(p)) fs::remove(p);
      write_file(p, base64_decode(data.get<std::string>()));
    }
  }

  Result crashed(Result r, const std::string& what, double ms) {
    std::string why = reason();
    stop();
    r.crashed = true;
    r.error = what + (why.empty() ? "" : " (" + why + ")") + "; it restarts on the next run";
    r.ms = ms;
    return r;
  }

  Result run(const std::string& code) {
    Result r;
    auto t0 = std::chrono::steady_clock::now();
    auto ms = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
    if (pid < 0) spawn();
    std::string line = json{{"code", code}}.dump() + "\n";
    signal(SIGPIPE, SIG_IGN);
    if (write(to_kernel, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return crashed(r, "the sandbox kernel was not running", ms());
    // The answer's JSON, at most: output, and the workspace's changed files in base64.
    const size_t cap = 4 * opts.limits.output_bytes + opts.limits.workspace_bytes / 3 * 4 + (4 << 20);
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
          if (write(to_kernel, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
            return crashed(r, "the sandbox kernel died while asking the host a question", ms());
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
        if (a.contains("workspace_error")) {
          r.workspace_saved = false;
          if (r.ok) r.ok = false, r.error_type = "WorkspaceLimit", r.error = a.value("workspace_error", "");
        } else if (a.contains("workspace")) {
          try {
            save_workspace(a["workspace"]);
          } catch (const std::exception& e) {
            r.workspace_saved = false;
            if (r.ok) r.ok = false, r.error_type = "WorkspaceLimit", r.error = e.what();
          }
        }
        drain_diag();
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
      if (got <= 0) return crashed(r, "the sandbox kernel died (a limit or a signal)", ms());
      if (pending.size() + static_cast<size_t>(got) > cap) {
        stop();
        r.crashed = true;
        r.error = "the answer exceeded the output limit; the kernel was restarted";
        r.ms = ms();
        return r;
      }
      pending.append(buf, static_cast<size_t>(got));
    }
  }
};

// A kernel in a child process: the real providers (and the fake's unisolated runtime).
class ProcessKernel : public Kernel {
 public:
  explicit ProcessKernel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  ~ProcessKernel() override {
    if (impl_) impl_->stop();
  }
  Result run(const std::string& code) override { return impl_->run(code); }
  Provider provider() const override { return impl_->opts.provider; }
  void set_reflection(std::function<json(const std::string&, const json&)> answer) override {
    impl_->reflect = std::move(answer);
  }

 private:
  std::unique_ptr<Impl> impl_;
};

std::unique_ptr<Kernel> Kernel::start(const Options& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.workspace.empty()) throw Error("the sandbox needs a workspace folder");
  std::error_code ec;
  fs::create_directories(impl->opts.workspace, ec);
  impl->opts.workspace = fs::absolute(impl->opts.workspace);
  const fs::path rt = runtime_dir(opts.env);
  if (!fs::exists(rt / "a4ps_runtime.py", ec)) {
    // A build made by another user (root's checkout) leaves the runtime where this user cannot look.
    if (ec == std::errc::permission_denied)
      throw Error("the sandbox runtime in " + rt.string() + " is not readable by this user; set A4PS_PYTHON_DIR to a readable copy of a4ps's python/ folder, or install a4ps");
    throw Error("the sandbox runtime is missing from " + rt.string() + "; set A4PS_PYTHON_DIR");
  }
  // `none` as root runs as nobody in the workspace itself: it must be nobody's to write.
  if (opts.provider == Provider::None && geteuid() == 0 && chown(impl->opts.workspace.c_str(), kNobody, kNobody) != 0)
    throw Error("cannot hand the workspace " + impl->opts.workspace.string() + " to the sandbox user");
  impl->spawn();
  return std::make_unique<ProcessKernel>(std::move(impl));
}

std::vector<Check> doctor() {
  std::vector<Check> out;
  for (Provider p : {Provider::GVisor, Provider::Bwrap, Provider::None}) {
    Check c{p};
    const char* tool = p == Provider::GVisor ? "runsc" : p == Provider::Bwrap ? "bwrap" : nullptr;
    std::string which = tool ? std::string("command -v ") + tool + " >/dev/null 2>&1" : "true";
    if (std::system(which.c_str()) != 0) {
      c.detail = std::string(tool) + " is not installed (Debian package " + (p == Provider::GVisor ? "runsc" : "bubblewrap") + ")";
    } else {
      fs::path ws = fs::temp_directory_path() / ("a4ps-doctor-" + random_id().substr(0, 8));
      try {
        Options o{.provider = p, .limits = {.wall_ms = 20000}, .workspace = ws, .allow_unsafe = true};
        Result r;
        {
          auto k = Kernel::start(o);
          r = k->run("6 * 7");
        }
        c.works = r.ok && r.value == "42";
        c.detail = c.works ? (p == Provider::None ? "works, but gives no isolation" : "ran Python in " + std::to_string(static_cast<int>(r.ms)) + " ms")
                           : "failed: " + (r.error.empty() ? std::string("no answer") : r.error);
      } catch (const Error& e) {
        c.detail = std::string("failed: ") + e.what();
      }
      std::error_code ec;
      fs::remove_all(ws, ec);
    }
    out.push_back(c);
  }
  return out;
}

Provider strongest() {
  static std::once_flag once;
  static Provider chosen = Provider::None;
  static std::string error;
  std::call_once(once, [] {
    std::string passed;
    for (auto& c : doctor()) {
      if (c.provider == Provider::None) break;
      if (c.works) {
        chosen = c.provider;
        if (!passed.empty())  // never a weaker sandbox in silence
          std::fprintf(stderr, "a4ps: agent code runs in %s, because %s (see `a4ps doctor`)\n", provider_name(chosen),
                       passed.c_str());
        return;
      }
      passed += (passed.empty() ? "" : "; ") + std::string(provider_name(c.provider)) + " " + c.detail;
    }
    error = "no sandbox works on this machine (" + passed + "); see `a4ps doctor`";
  });
  if (!error.empty()) throw Error(error);
  return chosen;
}

}  // namespace a4ps::sandbox
