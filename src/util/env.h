// The Env: every way A4PS touches the operating system (files, clock, randomness,
// environment variables, processes) goes through one small interface, so tests can
// put a fault in the way (a full disk, a failing write) the way LevelDB's tests do.
//
// Env::Default() is the real, POSIX one and lives for the whole process. Code that
// takes an `Env*` in its options treats nullptr as Env::Default(). The image's own
// writes go through SQLite; to fail those, see image/fault_vfs.h.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/util.h"

namespace a4ps {

// A file being written, from its start. Each call throws Error on failure.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual void append(std::string_view data) = 0;
  virtual void close() = 0;  // flushes; a file is closed by its destructor too (errors lost)
};

// A process that needs more than spawn() gives (the sandbox's provider): see start_process.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on this process's PATH
  std::vector<std::string> env;   // the child's whole environment (NAME=value)
  // (child's fd, this process's fd): its 0, 1, 2 and any more. Every other descriptor is
  // closed in the child: nothing of this process (the image's database, sockets) leaks.
  std::vector<std::pair<int, int>> fds;
  bool new_session = true;  // setsid(): the child leads a process group of its own
  // Runs in the child once its descriptors are in place, just before exec: limits, a user
  // switch, namespaces, a seccomp filter. It reports its own failures (a line on fd 2, _exit).
  std::function<void()> before_exec;
};

class Env {
 public:
  virtual ~Env() = default;
  static Env* Default();  // the POSIX Env; never deleted

  // Files. Errors are one line naming the path and what to do (e.g. a full disk).
  virtual std::unique_ptr<WritableFile> new_writable_file(const std::filesystem::path& path) = 0;  // truncates
  virtual std::string read_file(const std::filesystem::path& path) = 0;
  virtual void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  virtual void remove_file(const std::filesystem::path& path) = 0;  // absent is fine; never throws
  virtual void create_dirs(const std::filesystem::path& path) = 0;

  // Writes bytes to path atomically: a temporary beside it, then rename. On failure the
  // temporary is removed and path keeps its old content. Built on the calls above, so a
  // faulty Env fails it the way a real disk would.
  void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

  // Clock, randomness and the process environment.
  virtual int64_t now_ms() = 0;                        // wall clock, ms since the Unix epoch
  virtual void random_bytes(void* out, size_t n) = 0;  // unpredictable (ids, not keys)
  virtual std::optional<std::string> getenv(const char* name) = 0;  // nullopt when unset

  // Processes: starts argv[0] (a path) with exactly `env` (NAME=value entries) and
  // returns its pid; wait() returns its exit status (128+signal when killed).
  virtual pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) = 0;
  virtual int wait(pid_t pid) = 0;
  // Starts spec's process (fork, descriptors, before_exec, exec). Throws Error when the
  // fork fails; an exec that fails exits 126 with "a4ps: cannot run X: why" on its fd 2.
  virtual pid_t start_process(const ProcessSpec& spec);
};

// Forwards every call to another Env: a test Env overrides only what it breaks.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }
  std::unique_ptr<WritableFile> new_writable_file(const std::filesystem::path& p) override {
    return target_->new_writable_file(p);
  }
  std::string read_file(const std::filesystem::path& p) override { return target_->read_file(p); }
  void rename_file(const std::filesystem::path& f, const std::filesystem::path& t) override { target_->rename_file(f, t); }
  void remove_file(const std::filesystem::path& p) override { target_->remove_file(p); }
  void create_dirs(const std::filesystem::path& p) override { target_->create_dirs(p); }
  int64_t now_ms() override { return target_->now_ms(); }
  void random_bytes(void* out, size_t n) override { target_->random_bytes(out, n); }
  std::optional<std::string> getenv(const char* name) override { return target_->getenv(name); }
  pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) override {
    return target_->spawn(argv, env);
  }
  int wait(pid_t pid) override { return target_->wait(pid); }
  pid_t start_process(const ProcessSpec& spec) override { return target_->start_process(spec); }

 private:
  Env* target_;
};

// The one-line error for a failed file operation (op: "write", "read", ...) with errno
// err, e.g. "cannot write /x: the disk is full; free some space and try again".
std::string file_error(std::string_view op, const std::filesystem::path& path, int err);

// The same error, naming `path` where it named `tmp`: a file written beside its target
// and renamed is the target, as far as the user is concerned.
Error naming(const Error& e, const std::filesystem::path& tmp, const std::filesystem::path& path);

// Helpers over an Env (nullptr: the default).
std::string format_utc(int64_t ms);  // ISO-8601 with milliseconds, e.g. 2026-11-25T16:30:00.123Z
std::string now_utc(Env* env);
std::string random_id(Env* env);     // 128 random bits as 32 hex chars

}  // namespace a4ps
