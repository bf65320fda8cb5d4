// kill -9 during a 1,000-step graph run, at 20+ random points; resuming each time must
// reach exactly the state of an uninterrupted run, and the image must verify.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "graph_fixtures.h"
#include "image/image.h"
#include "testutil.h"

namespace a4ps::graph {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kUntil = 334;  // 334 loops x 3 nodes = 1,002 steps
constexpr int kDelayUs = 1000;   // slows "inc" so that kills land inside the run

int64_t progress(const fs::path& img) {
  image::Image im = image::Image::open(img, {.read_only = true});
  auto cp = image_checkpointer(im);
  auto c = cp->get("t");
  return c ? c->step : -1;
}

TEST(GraphCrash, KillNineAnywhereThenResumeReachesTheSameState) {
  // The reference: the same graph, uninterrupted, in memory.
  auto mem = memory_checkpointer();
  json expected = test::loop_graph(kUntil).compile({.checkpointer = mem.get()})
                      .invoke(json::object(), {.thread_id = "t", .step_limit = 1000000}).state;

  test::TempDir d;
  fs::path img = d / "g.a4ps";
  { image::Image::create(img); }
  std::mt19937 rng(7);
  const std::string until = std::to_string(kUntil), delay = std::to_string(kDelayUs);
  int kills = 0, runs = 0, slow_us = 0;
  int64_t last = -1;
  std::string out;
  for (;;) {
    ++runs;
    ASSERT_LT(runs, 1000) << "the run never finished";
    auto [pid, fd] = test::spawn_piped({A4PS_GRAPH_CHILD, img.string(), until, delay});
    ASSERT_GT(pid, 0);
    bool kill_it = kills < 25;
    if (kill_it) {
      // The window grows while kills land before the child got anywhere (a loaded machine).
      std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(4000, 12000)(rng) + slow_us));
      kill(pid, SIGKILL);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    out.clear();
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    close(fd);
    if (WIFSIGNALED(st)) {
      int64_t now = progress(img);
      EXPECT_GE(now, last) << "a committed step was lost";
      if (now > last) ++kills, slow_us = 0;  // count kills that landed inside the run
      else slow_us += 2000;
      last = now;
      continue;
    }
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
    break;
  }
  EXPECT_GE(kills, 20);
  ASSERT_EQ(out.rfind("done ", 0), 0u) << out;
  EXPECT_EQ(json::parse(out.substr(5)), expected);
  image::Image im = image::Image::open(img, {.read_only = true});
  EXPECT_TRUE(im.check().ok);
  auto cp = image_checkpointer(im);
  EXPECT_EQ(cp->get("t")->state, expected);
  EXPECT_EQ(cp->thread("t")->status, "done");
  std::cout << "[graph-crash] " << kills << " kills inside the run, " << runs << " processes\n";
}

}  // namespace
}  // namespace a4ps::graph
