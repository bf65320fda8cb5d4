// Crash safety: a child writing to an image is killed with SIGKILL at random points,
// again and again. Each time the image must open, pass `check`, and hold every write
// the child reported as committed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>

#include "image/image.h"
#include "testutil.h"

namespace a4ps::image {
namespace {

// Starts the child, lets it run for `ms`, kills it, and returns every line it printed.
std::vector<std::string> run_and_kill(const fs::path& img, const std::string& run, const char* sync, int ms) {
  auto [pid, fd] = test::spawn_piped({A4PS_CRASH_CHILD, img.string(), run, sync});
  EXPECT_GT(pid, 0);
  std::string out;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1) > 0) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "the child ended before it was killed";
  std::vector<std::string> keys;
  std::istringstream in(out);
  for (std::string word, key; in >> word >> key;)
    if (word == "committed") keys.push_back(key);
  return keys;
}

TEST(CrashSafety, SigkillAtRandomPointsLosesNoCommittedWrite) {
  test::TempDir d;
  fs::path img = d / "crash.a4ps";
  { Image::create(img); }
  std::mt19937 rng(12345);
  std::set<std::string> committed;
  // Kill until 50 kills have landed while the child was writing (60 at least). A loaded
  // machine starts children slowly, so the window grows when kills come too early.
  int kills_mid_stream = 0, run = 0, slow = 0;
  for (; run < 60 || kills_mid_stream < 50; ++run) {
    ASSERT_LT(run, 300) << "kills never landed while the child was writing";
    const char* sync = run % 2 ? "normal" : "full";
    int ms = std::uniform_int_distribution<int>(5, 80)(rng) + slow;
    auto keys = run_and_kill(img, "r" + std::to_string(run), sync, ms);
    committed.insert(keys.begin(), keys.end());
    if (!keys.empty()) ++kills_mid_stream;
    else slow += 20;

    Image im = Image::open(img);  // recovers the WAL after the crash
    CheckReport r = im.check();
    ASSERT_TRUE(r.ok) << "run " << run << ": " << (r.problems.empty() ? "" : r.problems[0]);
    for (const auto& k : keys) {
      auto tool = im.get(Kind::Tool, "t" + k);
      ASSERT_TRUE(tool.has_value()) << "run " << run << ": committed write " << k << " is missing";
    }
    // Every tool write came with its memory and event, or not at all.
    auto info = im.info();
    EXPECT_EQ(info.counts.tools, info.counts.memories);
    EXPECT_EQ(info.counts.events, 1 + 3 * info.counts.tools);
  }
  EXPECT_GE(kills_mid_stream, 50) << "too few kills landed while the child was writing";
  Image im = Image::open(img, {.read_only = true});
  EXPECT_GE(static_cast<size_t>(im.info().counts.tools), committed.size());
  std::cout << "[crash] " << run << " SIGKILLs (" << kills_mid_stream << " mid-write), " << committed.size() << " reported commits, all present\n";
}

}  // namespace
}  // namespace a4ps::image
