// The public run records on a real image: saved, updated, read back from another handle
// (as a restarted service reads them), settled after a process that did not finish them,
// and refused when they are malformed or the image is read-only.
#include "a4ps/runs.h"

#include <gtest/gtest.h>

#include "testutil.h"

namespace a4ps {
namespace {

TEST(RunsApi, SavedUpdatedAndReadBackFromAnotherHandle) {
  test::TempDir d;
  std::string path = (d / "a.a4ps").string();
  {
    Image img = create_image(path);
    EXPECT_TRUE(thread_runs(img, "t").empty());
    EXPECT_FALSE(find_run(img, "r1"));
    save_run(img, {.id = "r1", .thread = "t", .task = "hi", .created_at = "2026-01-01T00:00:00Z"});
    save_run(img, {.id = "r2", .thread = "t", .kind = "resume", .status = "running", .created_at = "2026-01-01T00:00:01Z"});
    save_run(img, {.id = "r3", .thread = "u", .status = "pending", .created_at = "2026-01-01T00:00:02Z"});
    // An update changes how it stands, never what it was.
    save_run(img, {.id = "r1", .thread = "t", .task = "changed", .status = "success", .created_at = "x",
                   .finished_at = "2026-01-01T00:00:05Z", .output_json = R"({"answer": "hello"})"});
  }
  Image img = Image::open(path);
  auto runs = thread_runs(img, "t");
  ASSERT_EQ(runs.size(), 2u);  // oldest first
  EXPECT_EQ(runs[0].id, "r1");
  EXPECT_EQ(runs[0].task, "hi");
  EXPECT_EQ(runs[0].created_at, "2026-01-01T00:00:00Z");
  EXPECT_EQ(runs[0].status, "success");
  EXPECT_EQ(runs[0].output_json, R"({"answer": "hello"})");
  EXPECT_EQ(runs[1].kind, "resume");
  ASSERT_EQ(thread_runs(img, "t", 1).size(), 1u);
  EXPECT_EQ(thread_runs(img, "t", 1)[0].id, "r2");  // the newest one

  // The process that did r2 and r3 ended without finishing them.
  EXPECT_EQ(settle_unfinished_runs(img, "the server stopped"), 2);
  auto r2 = find_run(img, "r2");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, "interrupted");
  EXPECT_EQ(r2->error, "the server stopped");
  EXPECT_FALSE(r2->finished_at.empty());
  EXPECT_EQ(find_run(img, "r3")->status, "cancelled");
  EXPECT_EQ(find_run(img, "r1")->status, "success");  // finished ones are left alone
  EXPECT_EQ(settle_unfinished_runs(img, "again"), 0);
}

TEST(RunsApi, BadRecordsAndReadOnlyImagesAreRefused) {
  test::TempDir d;
  std::string path = (d / "a.a4ps").string();
  {
    Image img = create_image(path);
    EXPECT_THROW(save_run(img, {.id = "r", .thread = "t", .status = "done"}), Error);
    EXPECT_THROW(save_run(img, {.id = "r", .thread = "t", .kind = "other"}), Error);
    EXPECT_THROW(save_run(img, {.id = "", .thread = "t"}), Error);
    EXPECT_THROW(thread_runs(img, "t", 0), Error);
    EXPECT_TRUE(thread_runs(img, "t").empty());  // nothing half-written
    save_run(img, {.id = "r", .thread = "t", .status = "running"});
  }
  Image ro = Image::open(path, {.create_if_missing = false, .read_only = true});
  EXPECT_EQ(thread_runs(ro, "t").size(), 1u);
  try {
    save_run(ro, {.id = "r2", .thread = "t"});
    ADD_FAILURE() << "a read-only image took a run record";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
  EXPECT_THROW(settle_unfinished_runs(ro, "x"), Error);
  EXPECT_EQ(find_run(ro, "r")->status, "running");
}

}  // namespace
}  // namespace a4ps
