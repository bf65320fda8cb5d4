#include "util/env.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "util/util.h"

namespace a4ps {

namespace fs = std::filesystem;

std::string file_error(std::string_view op, const fs::path& path, int err) {
  std::string what;
  switch (err) {
    case ENOSPC: what = "the disk is full; free some space and try again"; break;
    case EDQUOT: what = "the disk quota is used up; free some space and try again"; break;
    case EIO: what = "an I/O error on the disk; check the disk (dmesg) and try again"; break;
    case EACCES:
    case EPERM: what = "permission denied; check the permissions of the file and its directory"; break;
    case ENOENT: what = "no such file or directory; check the path"; break;
    case EROFS: what = "the file system is read-only; choose another place"; break;
    default: what = std::strerror(err);
  }
  return "cannot " + std::string(op) + " " + path.string() + ": " + what;
}

namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(file_error("write", path_, errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) throw Error(file_error("write", path_, errno));
  }

 private:
  fs::path path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  std::unique_ptr<WritableFile> new_writable_file(const fs::path& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(file_error("write", path, errno));
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  std::string read_file(const fs::path& path) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string() + ": check the path and permissions");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void rename_file(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) throw Error(file_error("write", to, errno));
  }

  void remove_file(const fs::path& path) override { ::unlink(path.c_str()); }

  void create_dirs(const fs::path& path) override {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) throw Error(file_error("create directory", path, ec.value()));
  }

  int64_t now_ms() override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }

  void random_bytes(void* out, size_t n) override {
    auto* p = static_cast<unsigned char*>(out);
    while (n > 0) {
      ssize_t got = ::getrandom(p, n, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        std::random_device rd;  // no getrandom (old kernel, seccomp): the C++ source
        for (; n > 0; --n) *p++ = static_cast<unsigned char>(rd());
        return;
      }
      p += got;
      n -= static_cast<size_t>(got);
    }
  }

  std::optional<std::string> getenv(const char* name) override {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  }

  pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) override {
    if (argv.empty()) throw Error("spawn needs a program to run");
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    for (auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    e.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, a[0], nullptr, nullptr, a.data(), e.data());
    if (rc != 0) throw Error("cannot start " + argv[0] + ": " + std::strerror(rc) + "; check that it is installed");
    return pid;
  }

  int wait(pid_t pid) override {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0)
      if (errno != EINTR) throw Error("waiting for process " + std::to_string(pid) + " failed: " + std::strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
  }
};

}  // namespace

pid_t Env::start_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) throw Error("start_process needs a program to run");
  // Everything the child needs is made here: after fork it only moves descriptors.
  std::vector<char*> args, envp;
  for (auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int top = 2;
  for (auto& [to, from] : spec.fds) top = std::max(top, to);
  std::vector<int> lifted(spec.fds.size(), -1);
  const std::string fail = "a4ps: cannot run " + spec.argv[0] + ": ";
  pid_t pid = fork();
  if (pid < 0) throw Error("cannot start " + spec.argv[0] + " (fork failed: " + std::strerror(errno) + ")");
  if (pid > 0) return pid;
  if (spec.new_session) setsid();
  // Lifted above every target first: a source may itself be one of the targets.
  for (size_t i = 0; i < spec.fds.size(); ++i)
    if (spec.fds[i].second >= 0) lifted[i] = fcntl(spec.fds[i].second, F_DUPFD, top + 1);
  for (int fd = 0; fd <= top; ++fd) {
    bool mapped = false;
    for (size_t i = 0; i < spec.fds.size(); ++i)
      if (spec.fds[i].first == fd && lifted[i] >= 0) mapped = dup2(lifted[i], fd) == fd;
    if (!mapped && fd > 2) close(fd);  // a gap among the targets is not this process's
  }
  syscall(SYS_close_range, top + 1, ~0u, 0);
  if (spec.before_exec) spec.before_exec();
  execvpe(args[0], args.data(), envp.data());
  std::string m = fail + std::strerror(errno) + "\n";
  if (write(2, m.data(), m.size()) < 0) {
  }
  _exit(126);
}

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;  // never destroyed: usable from static destructors
  return env;
}

void Env::write_file_atomic(const fs::path& path, std::string_view bytes) {
  fs::path tmp = path;
  tmp += ".tmp";
  try {
    auto f = new_writable_file(tmp);
    f->append(bytes);
    f->close();
    rename_file(tmp, path);
  } catch (const Error& e) {
    remove_file(tmp);  // never a partial file beside the real one
    throw naming(e, tmp, path);
  } catch (...) {
    remove_file(tmp);
    throw;
  }
}

Error naming(const Error& e, const fs::path& tmp, const fs::path& path) {
  std::string msg = e.what();
  if (auto at = msg.find(tmp.string()); at != std::string::npos) msg.replace(at, tmp.string().size(), path.string());
  return Error(msg);
}

std::string format_utc(int64_t ms) {
  // The date and time are formatted once per second (per thread): a graph step and an event
  // each take a timestamp, and printf is a visible part of a step.
  thread_local int64_t second = -1;
  thread_local std::string prefix;  // "YYYY-MM-DDTHH:MM:SS."
  if (ms < 0 || ms / 1000 != second) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    if (ms < 0) return buf;  // before 1970: rare, not kept
    second = ms / 1000;
    prefix.assign(buf, std::strlen(buf) - 4);  // less "mmmZ"
  }
  const int milli = static_cast<int>(ms % 1000);
  std::string out;
  out.reserve(24);
  out = prefix;
  out += static_cast<char>('0' + milli / 100);
  out += static_cast<char>('0' + milli / 10 % 10);
  out += static_cast<char>('0' + milli % 10);
  out += 'Z';
  return out;
}

std::string now_utc(Env* env) { return format_utc((env ? env : Env::Default())->now_ms()); }

std::string random_id(Env* env) {
  unsigned char b[16];
  (env ? env : Env::Default())->random_bytes(b, sizeof b);
  static const char* digits = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  return out;
}

}  // namespace a4ps
