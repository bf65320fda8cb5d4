// What the benchmarks share: percentiles of a sample, milliseconds since a time point, and
// starting a server process whose stderr (or a log file) says how it is doing.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

namespace a4ps::bench {

using Clock = std::chrono::steady_clock;

inline double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
inline double ms_since(Clock::time_point t) { return ms(Clock::now() - t); }

struct Stats {
  double p50 = 0, p99 = 0, mean = 0;
};
inline Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], sum / static_cast<double>(v.size())};
}

// Starts a program; with err_fd its stderr comes back through a pipe, else both its outputs
// go to `log` (a chatty server must never block on a pipe nobody reads). -1 on failure.
inline pid_t spawn(std::vector<std::string> args, int* err_fd, const std::filesystem::path& log = {}) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (err_fd) {
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err_fd) *err_fd = fds[0];
  else close(fds[0]);
  return pid;
}

}  // namespace a4ps::bench
