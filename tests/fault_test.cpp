// Fault injection: real images on a disk that fills up, fails an fsync or tears a page
// (the SQLite fault VFS), and files written through a full Env. Each time the user gets
// one clear line, the image passes `check` (also as a crash at that moment would leave
// it), nothing is half-written, and the work goes on once the fault is gone.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>

#include "fault_env.h"
#include "forge/forge.h"
#include "governance/governance.h"
#include "graph/graph.h"
#include "graph_fixtures.h"
#include "image/archive.h"
#include "image/fault_vfs.h"
#include "image/image.h"
#include "llm/backend.h"
#include "sandbox/fake_kernel.h"
#include "testutil.h"
#include "util/env.h"

namespace a4ps::image {
namespace {

FaultVfs& vfs() { return FaultVfs::install(); }

OpenOptions faulty(Sync s = Sync::Full) { return {.sync = s, .vfs = FaultVfs::kName}; }

// One line, saying what happened.
void expect_one_line(const std::string& msg, const std::string& says) {
  EXPECT_FALSE(msg.empty()) << "no error was raised";
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find(says), std::string::npos) << msg;
}

void expect_check_ok(const Image& img, const std::string& when) {
  CheckReport r = img.check();
  EXPECT_TRUE(r.ok) << when << ": " << (r.problems.empty() ? "" : r.problems.front());
}

// What a crash at this moment would leave on disk: the image and its WAL (no -shm, so
// the next open recovers from the WAL alone).
fs::path crash_copy(const fs::path& img, const fs::path& dest) {
  std::error_code ec;
  fs::remove(dest, ec);
  fs::remove(dest.string() + "-wal", ec);
  fs::remove(dest.string() + "-shm", ec);
  fs::copy_file(img, dest);
  if (fs::exists(img.string() + "-wal")) fs::copy_file(img.string() + "-wal", dest.string() + "-wal");
  return dest;
}

enum class Point { Write, Sync };

// Runs `work` on a fresh copy of `base` opened through the fault VFS, with the nth write
// to the image failing with a full disk (Point::Write) or the nth fsync failing with EIO
// (Point::Sync), and every later one too (the disk stays full or failing), for n = 1, 2,
// ... until work completes without reaching the fault. `work` must carry on from wherever
// an earlier failure left it; `consistent` checks a state a failure may leave; `done`
// checks the finished state. Returns the number of points tried.
int at_each_point(Point point, const fs::path& base, const fs::path& dir, const std::function<void(Image&)>& work,
                  const std::function<void(Image&)>& consistent, const std::function<void(Image&)>& done,
                  const std::function<void(const std::string&)>& on_error = {}) {
  int n = 1;
  for (;; ++n) {
    SCOPED_TRACE((point == Point::Write ? "disk full at write " : "fsync error at sync ") + std::to_string(n));
    if (n > 2000) {
      ADD_FAILURE() << "the work never completed";
      return n;
    }
    fs::path p = crash_copy(base, dir / ("w" + std::to_string(n) + ".a4ps"));
    bool hit = false;
    {
      Image img = Image::open(p, faulty());
      if (point == Point::Write) vfs().fail_write(n, FaultVfs::Mode::Always);
      else vfs().fail_sync(n, FaultVfs::Mode::Always);
      std::string err = test::error_of([&] { work(img); });
      hit = vfs().injected() > 0;
      if (hit) {
        expect_one_line(err, point == Point::Write ? "the disk is full" : "fsync failed");
        if (on_error) on_error(err);
        if (n == 2) std::cout << "[fault] e.g. " << err << "\n";  // what a user reads
        {
          Image crashed = Image::open(crash_copy(p, dir / "crash.a4ps"));
          expect_check_ok(crashed, "after a crash at the fault");
          consistent(crashed);
        }
        vfs().clear();  // space is back, the disk works again
        expect_check_ok(img, "on the same connection, once space is back");
        consistent(img);
        EXPECT_EQ(test::error_of([&] { work(img); }), "") << "the work did not resume";
      } else {
        vfs().clear();
        EXPECT_EQ(err, "");
      }
      done(img);
    }
    {
      Image again = Image::open(p);  // the default VFS, as a user would
      expect_check_ok(again, "reopened");
      done(again);
    }
    std::error_code ec;
    fs::remove(p, ec);
    fs::remove(p.string() + "-wal", ec);
    if (!hit) break;
  }
  return n;
}

int at_each_write_point(const fs::path& base, const fs::path& dir, const std::function<void(Image&)>& work,
                        const std::function<void(Image&)>& consistent, const std::function<void(Image&)>& done,
                        const std::function<void(const std::string&)>& on_error = {}) {
  return at_each_point(Point::Write, base, dir, work, consistent, done, on_error);
}

class Faults : public ::testing::Test {
 protected:
  void TearDown() override { vfs().clear(); }
  test::TempDir d;
};

// ---- the VFS shim itself ------------------------------------------------------

TEST_F(Faults, TheShimCountsOnlyImageWritesAndFailsOnlyWhenArmed) {
  fs::path p = d / "a.a4ps";
  { Image::create(p); }
  Image img = Image::open(p, faulty());
  vfs().clear();
  img.put(Kind::Tool, "a", "def a(): pass");
  EXPECT_GT(vfs().writes(), 0);
  EXPECT_GT(vfs().syncs(), 0) << "Sync::Full fsyncs every commit";
  EXPECT_EQ(vfs().injected(), 0);

  // Once: a transient failure; the next try succeeds without clearing anything.
  vfs().fail_write(1, FaultVfs::Mode::Once);
  expect_one_line(test::error_of([&] { img.put(Kind::Tool, "b", "def b(): pass"); }), "the disk is full");
  EXPECT_FALSE(img.get(Kind::Tool, "b"));
  img.put(Kind::Tool, "b", "def b(): pass");
  EXPECT_EQ(vfs().injected(), 1);
  EXPECT_TRUE(img.get(Kind::Tool, "b"));
}

TEST_F(Faults, CreatingAnImageOnAFullDiskLeavesNothingBehind) {
  vfs().fail_write(1);
  std::string err = test::error_of([&] { Image::create(d / "new.a4ps", {.vfs = FaultVfs::kName}); });
  vfs().clear();
  expect_one_line(err, "the disk is full: " + (d / "new.a4ps").string() + " was not created");
  EXPECT_TRUE(fs::is_empty(d.path)) << "a half-made image was left behind";
  Image::create(d / "new.a4ps", {.vfs = FaultVfs::kName});  // and with space, it works
}

// ---- ENOSPC at each write point ---------------------------------------------

// A small graph run through the image checkpointer with a fault at each point; it must
// resume to the unfaulted run's final state and step count. Returns the points tried.
int graph_run_at_each_point(Point point, graph::Durability durability, const fs::path& dir, int* step_errors) {
  fs::path base = dir / "base.a4ps";
  { Image::create(base); }
  auto run = [durability](Image& img) {  // starts the thread, or resumes it where it stopped
    auto cp = graph::image_checkpointer(img, durability);
    auto g = test::loop_graph(3).compile({.checkpointer = cp.get(), .name = "loop"});
    auto t = cp->thread("t");
    if (t && t->status == "done") return;
    if (cp->get("t")) g.invoke(nullptr, {.thread_id = "t"});
    else g.invoke(json::object(), {.thread_id = "t"});
  };
  // The unfaulted run, for comparison.
  json want;
  size_t want_steps = 0;
  {
    Image img = Image::open(crash_copy(base, dir / "ref.a4ps"));
    run(img);
    auto cp = graph::image_checkpointer(img);
    want = cp->get("t")->state;
    want_steps = cp->list("t").size();
    EXPECT_EQ(want["i"], 3);
  }
  // Whatever a failure leaves: whole steps, numbered without gaps from 0, each on its parent.
  auto consistent = [](Image& img) {
    auto cps = graph::image_checkpointer(img)->list("t");
    for (size_t k = 0; k < cps.size(); ++k) {
      const auto& c = cps[cps.size() - 1 - k];
      EXPECT_EQ(c.step, static_cast<int64_t>(k));
      if (k) {
        EXPECT_EQ(c.parent_id, cps[cps.size() - k].id);
      }
      EXPECT_TRUE(c.state.contains("acc") && c.state.contains("i"));
    }
  };
  auto done = [&](Image& img) {
    auto cp = graph::image_checkpointer(img);
    auto t = cp->thread("t");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->status, "done");
    EXPECT_EQ(cp->get("t")->state, want);
    EXPECT_EQ(cp->list("t").size(), want_steps) << "a step was saved twice or lost";
  };
  int points = at_each_point(point, base, dir, run, consistent, done, [&](const std::string& err) {
    if (err.find("was not saved; free some space and resume the thread") != std::string::npos && ++*step_errors == 1)
      std::cout << "[fault] e.g. " << err << "\n";
  });
  EXPECT_GT(points, static_cast<int>(want_steps)) << "fewer fault points than steps: the faults missed the run";
  return points;
}

TEST_F(Faults, DiskFullAtEachWritePointOfAGraphRunResumesToTheSameState) {
  int step_errors = 0;
  int points = graph_run_at_each_point(Point::Write, graph::Durability::Normal, d.path, &step_errors);
  EXPECT_GT(step_errors, 0) << "no failure was reported as a lost step";
  std::cout << "[fault] graph run: disk full at each of " << points - 1 << " write points\n";
}

TEST_F(Faults, AnFsyncErrorAtEachSyncPointOfAGraphRunResumesToTheSameState) {
  int step_errors = 0;  // an fsync error is not reported as a full disk
  int points = graph_run_at_each_point(Point::Sync, graph::Durability::Full, d.path, &step_errors);
  EXPECT_EQ(step_errors, 0);
  std::cout << "[fault] graph run: fsync error at each of " << points - 1 << " sync points\n";
}

const std::string kSource = "def add(a, b):\n    return a + b\n";

// The proposal the forge files when a tool passes its tests (forge::forge's payload).
int64_t propose_tool(Image& img) {
  return img.propose("tool.register", "add",
                     {{"before", ""}, {"after", kSource}, {"tests", "assert add(1, 2) == 3"}, {"attempts", 1},
                      {"doc", "adds two numbers"}});
}

int64_t count_events(const Image& img, const std::string& kind) {
  int64_t n = 0;
  for (auto& e : img.events())
    if (e.kind == kind) ++n;
  return n;
}

// The real forge path: a scripted model writes the tool, the fake sandbox kernel checks
// and tests it, and forge::forge files the proposal; the disk fills at each write point.
TEST_F(Faults, DiskFullAtEachWritePointOfAForgeProposal) {
  fs::path base = d / "base.a4ps";
  { Image::create(base); }
  std::ofstream(d / "model.jsonl") << json{{"text", "```python\n" + kSource + "```"}}.dump() << "\n";
  sandbox::FakeKernel kernel(d / "work");
  const forge::ToolSpec spec{.name = "add", .params = {"a", "b"}, .doc = "adds two numbers", .tests = "assert add(1, 2) == 3"};
  int forged = 0;
  auto work = [&](Image& img) {
    if (!img.proposals().empty()) return;
    auto model = llm::scripted_backend(d / "model.jsonl");  // a fake model: the same answer each time
    auto r = forge::forge(spec, *model, kernel, img);
    ASSERT_TRUE(r.ok) << (r.attempts.empty() ? "" : r.attempts.back().error);
    ++forged;
  };
  auto consistent = [](Image& img) {  // the proposal and its event together, or neither
    EXPECT_EQ(static_cast<int64_t>(img.proposals().size()), count_events(img, "proposal.created"));
  };
  auto done = [](Image& img) {
    auto ps = img.proposals();
    ASSERT_EQ(ps.size(), 1u);
    EXPECT_TRUE(ps[0].is(ProposalStatus::Pending));
    EXPECT_EQ(ps[0].type(), ProposalKind::ToolRegister);
    EXPECT_EQ(ps[0].target, "add");
    EXPECT_EQ(ps[0].payload["after"], kSource);
    EXPECT_EQ(ps[0].payload["tests"], "assert add(1, 2) == 3");
  };
  int points = at_each_write_point(base, d.path, work, consistent, done);
  EXPECT_GT(points, 1);
  EXPECT_GE(forged, points) << "the forge did not succeed once space was back";
  EXPECT_FALSE(kernel.codes().empty()) << "the tool was never checked in the sandbox";
}

// Approve, then apply: each step either happened whole, or not at all.
void approve_and_apply(Image& img) {
  auto p = img.proposals().at(0);
  if (p.status == "pending") img.decide(p.id, true, "tester", "looks right");
  if (img.proposals().at(0).status == "approved") governance::apply(img, p.id);
}

void approval_consistent(Image& img) {
  auto p = img.proposals().at(0);
  EXPECT_EQ(count_events(img, "proposal.approved"), p.status == "pending" ? 0 : 1) << p.status;
  EXPECT_EQ(count_events(img, "proposal.applied"), p.status == "applied" ? 1 : 0) << p.status;
  EXPECT_EQ(img.history(p.kind == "adapter.activate" ? Kind::Adapter : Kind::Tool, p.target).size(),
            p.status == "applied" ? 1u : 0u);
}

TEST_F(Faults, DiskFullAtEachWritePointOfAnApproval) {
  fs::path base = d / "base.a4ps";
  {
    Image img = Image::create(base);
    propose_tool(img);
  }
  auto done = [](Image& img) {
    EXPECT_EQ(img.proposals().at(0).status, "applied");
    auto t = img.get(Kind::Tool, "add");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->content, kSource);
    EXPECT_EQ(t->version, 1);
  };
  int points = at_each_write_point(base, d.path, approve_and_apply, approval_consistent, done);
  EXPECT_GT(points, 2);
}

TEST_F(Faults, DiskFullAtEachWritePointOfAnAdapterSave) {
  const std::string lora = read_file(test::model("synthetic-llama-tiny-lora.gguf"));
  ASSERT_GT(lora.size(), 4096u) << "the adapter should span several pages";
  fs::path base = d / "base.a4ps";
  { Image::create(base); }
  auto work = [&](Image& img) {
    if (img.proposals().empty()) governance::propose_adapter(img, "robin-lora", lora, std::string(64, 'a'), "ROBIN");
    approve_and_apply(img);
  };
  auto consistent = [&](Image& img) {
    // The blob is stored with its proposal, in one transaction: never one without the other.
    bool proposed = !img.proposals().empty();
    EXPECT_EQ(test::error_of([&] { img.blob(sha256_hex(lora)); }).empty(), proposed);
    if (proposed) approval_consistent(img);
  };
  auto done = [&](Image& img) {
    auto a = img.get(Kind::Adapter, "robin-lora");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->blob_sha256, sha256_hex(lora));
    EXPECT_EQ(img.blob(a->blob_sha256), lora);
  };
  int points = at_each_write_point(base, d.path, work, consistent, done);
  EXPECT_GT(points, static_cast<int>(lora.size() / 4096)) << "the adapter's pages were not all written through the shim";
}

// ---- EIO on fsync ---------------------------------------------------------------

TEST_F(Faults, AnFsyncErrorIsOneLineAndTheImageStaysWhole) {
  fs::path p = d / "a.a4ps";
  { Image::create(p); }
  Image img = Image::open(p, faulty(Sync::Full));
  vfs().fail_sync(1);
  std::string err = test::error_of([&] { img.put(Kind::Tool, "t", kSource); });
  EXPECT_EQ(vfs().injected(), 1);
  vfs().clear();
  expect_one_line(err, "fsync failed");
  EXPECT_NE(err.find("a4ps image check"), std::string::npos) << err;
  // The change may or may not have reached the disk; whichever, with its event.
  auto whole = [](const Image& im) {
    expect_check_ok(im, "after the failed fsync");
    EXPECT_EQ(im.history(Kind::Tool, "t").size(), static_cast<size_t>(count_events(im, "tool.version_added")));
  };
  {
    Image crashed = Image::open(crash_copy(p, d / "crash.a4ps"));
    whole(crashed);
  }
  whole(img);
  img.put(Kind::Tool, "t", kSource);  // the retry lands (or finds it already there)
  Image again = Image::open(p);
  expect_check_ok(again, "reopened");
  EXPECT_EQ(again.get(Kind::Tool, "t")->content, kSource);
}

// ---- a torn page ----------------------------------------------------------------

uint32_t be32(const std::string& s, size_t at) {
  auto u = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + k])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}

TEST_F(Faults, ATornWriteLeavesTheLastCommittedState) {
  fs::path base = d / "base.a4ps";
  {
    Image img = Image::create(base);
    img.put(Kind::Tool, "a", kSource);
  }
  const std::string big(3 * 4096, 'x');  // several pages, so the commit has several writes
  int n = 1;
  bool tore_a_frame = false;
  for (;; ++n) {
    SCOPED_TRACE("torn write " + std::to_string(n));
    ASSERT_LT(n, 200) << "the commit never completed";
    fs::path p = crash_copy(base, d / "t.a4ps");
    Image img = Image::open(p, faulty(Sync::Full));
    vfs().tear_write(n);
    std::string err = test::error_of([&] { img.put(Kind::Tool, "b", big); });
    if (vfs().injected() == 0) {  // n is past the commit's last write: it committed
      vfs().clear();
      EXPECT_EQ(err, "");
      break;
    }
    expect_one_line(err, "a write failed");
    // The power goes out now: what is on disk must recover to the state before the commit.
    fs::path copy = crash_copy(p, d / "crash.a4ps");
    std::string wal = read_file(copy.string() + "-wal");
    if (wal.size() > 32) {
      uint32_t page = be32(wal, 8);
      if ((wal.size() - 32) % (24 + page) != 0) tore_a_frame = true;  // a partial frame is in the log
    }
    {
      Image crashed = Image::open(copy);
      expect_check_ok(crashed, "after the torn write");
      EXPECT_TRUE(crashed.get(Kind::Tool, "a"));
      EXPECT_FALSE(crashed.get(Kind::Tool, "b")) << "a torn commit came back";
      EXPECT_EQ(count_events(crashed, "tool.version_added"), 1);
      crashed.put(Kind::Tool, "b", big);  // and the recovered image takes new work
    }
    vfs().clear();
    expect_check_ok(img, "on the same connection");
  }
  EXPECT_GT(n, 3) << "the commit should take several writes";
  EXPECT_TRUE(tore_a_frame) << "no tear ever left a partial WAL frame";
  std::cout << "[fault] torn write at each of " << n - 1 << " writes of a commit\n";
}

// ---- files written through the Env ------------------------------------------

TEST_F(Faults, AFullDiskDuringExportLeavesNoPartialArchive) {
  test::FaultEnv env;
  fs::path p = d / "a.a4ps";
  { Image::create(p); }
  Image img = Image::open(p, {.env = &env});
  img.put(Kind::Tool, "a", kSource);
  fs::path out = d / "out" / "a.tar";
  fs::create_directory(d / "out");
  int n = 1;
  for (;; ++n) {
    SCOPED_TRACE("disk full at append " + std::to_string(n));
    ASSERT_LT(n, 1000);
    env.fail_append(n);
    std::string err = test::error_of([&] { export_image(img, out); });
    if (env.injected() == 0) {
      EXPECT_EQ(err, "");
      break;
    }
    expect_one_line(err, "the disk is full; free some space and try again");
    EXPECT_NE(err.find(out.string()), std::string::npos) << "the message should name the archive: " << err;
    EXPECT_TRUE(fs::is_empty(d / "out")) << "a partial archive or temporary was left behind";
  }
  EXPECT_GT(n, 1);
  env.clear();
  auto r = import_image(out, d / "b.a4ps");
  Image b = Image::open(r.path);
  expect_check_ok(b, "the imported export");
  EXPECT_TRUE(b.get(Kind::Tool, "a"));
}

TEST_F(Faults, AFullDiskDuringImportLeavesNoPartialImage) {
  fs::path p = d / "a.a4ps";
  {
    Image img = Image::create(p);
    img.put(Kind::Tool, "a", kSource);
    export_image(img, d / "a.tar");
  }
  test::FaultEnv env;
  fs::path dest = d / "in" / "b.a4ps";
  fs::create_directory(d / "in");
  int n = 1;
  for (;; ++n) {
    SCOPED_TRACE("disk full at append " + std::to_string(n));
    ASSERT_LT(n, 1000);
    env.fail_append(n);
    std::string err = test::error_of([&] { import_image(d / "a.tar", dest, false, &env); });
    if (env.injected() == 0) {
      EXPECT_EQ(err, "");
      break;
    }
    expect_one_line(err, "cannot write " + dest.string() + ": the disk is full; free some space and try again");
    EXPECT_TRUE(fs::is_empty(d / "in")) << "a partial image or temporary was left behind";
  }
  EXPECT_GT(n, 1);
  Image b = Image::open(dest);
  expect_check_ok(b, "the imported image");
  EXPECT_TRUE(b.get(Kind::Tool, "a"));
}

TEST_F(Faults, AtomicWriteKeepsTheOldFileWhenTheDiskIsFull) {
  test::FaultEnv env;
  fs::path f = d / "notes.txt";
  env.write_file_atomic(f, "old");
  env.fail_append(1);
  std::string err = test::error_of([&] { env.write_file_atomic(f, std::string(10000, 'n')); });
  expect_one_line(err, "cannot write " + f.string() + ": the disk is full");
  EXPECT_EQ(read_file(f), "old");
  EXPECT_FALSE(fs::exists(f.string() + ".tmp"));
  env.clear();
  env.write_file_atomic(f, "new");
  EXPECT_EQ(read_file(f), "new");
}

// The image takes its clock from its Env.
TEST_F(Faults, TheImageReadsTheClockThroughItsEnv) {
  struct Frozen : EnvWrapper {
    Frozen() : EnvWrapper(Env::Default()) {}
    int64_t now_ms() override { return 1767225600123; }  // 2026-01-01T00:00:00.123Z
  } env;
  Image img = Image::create(d / "a.a4ps", {.env = &env});
  img.put(Kind::Tool, "a", kSource);
  for (auto& e : img.events()) EXPECT_EQ(e.ts, "2026-01-01T00:00:00.123Z") << e.kind;
  EXPECT_EQ(img.get(Kind::Tool, "a")->created_at, "2026-01-01T00:00:00.123Z");
}

}  // namespace
}  // namespace a4ps::image
