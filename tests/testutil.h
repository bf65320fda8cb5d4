// Helpers shared by the tests: scratch directories and running the real a4ps binary.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <spawn.h>

#include <nlohmann/json.hpp>

#include "util/util.h"

extern char** environ;

namespace a4ps::test {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/a4ps-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

struct RunResult {
  int code = -1;
  std::string out, err;
};

// Runs a shell command line, capturing stdout and stderr separately.
inline RunResult run(const std::string& cmd) {
  TempDir d;
  std::string full = cmd + " >" + (d / "out").string() + " 2>" + (d / "err").string();
  int st = std::system(full.c_str());
  RunResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = read_file(d / "out");
  r.err = read_file(d / "err");
  return r;
}

// Runs the a4ps binary built beside the tests.
inline RunResult a4ps(const std::string& args) { return run(std::string(A4PS_BIN) + " " + args); }

inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs `a4ps --json ARGS`, expects success, and parses what it printed.
inline nlohmann::json a4ps_json(const std::string& args) {
  RunResult r = a4ps("--json " + args);
  if (r.code != 0) throw std::runtime_error("a4ps " + args + " failed: " + r.err);
  return nlohmann::json::parse(r.out);
}

// The message of the a4ps::Error that f throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Starts a program with its stdout on a pipe; returns {pid, read end}.
inline std::pair<pid_t, int> spawn_piped(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  return {pid, fds[0]};
}

// Where the ctest fixture wrote the synthetic models.
inline fs::path model(const std::string& name) { return fs::path(A4PS_TEST_MODELS) / name; }

}  // namespace a4ps::test
