// Helpers shared by the tests: scratch directories and running the real a4ps binary.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "util/util.h"

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

// Where the ctest fixture wrote the synthetic models.
inline fs::path model(const std::string& name) { return fs::path(A4PS_TEST_MODELS) / name; }

}  // namespace a4ps::test
