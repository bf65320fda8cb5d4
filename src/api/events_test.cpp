// The public thread events on a real image: one per step, numbered from 1, read after any
// of them, the same from another handle (as a reconnecting client of `a4ps serve` reads).
#include "a4ps/events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "a4ps/audit.h"
#include "a4ps/threads.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;

TEST(EventsApi, OnePerStepReadAfterAnyOfThem) {
  test::TempDir d;
  std::string path = (d / "a.a4ps").string();
  {
    Image img = create_image(path);
    run_thread(img, R"({"n": 3})", {.graph = "count", .thread = "c"});
  }
  Image img = Image::open(path);  // another handle sees the same events
  auto all = thread_events(img, "c");
  ASSERT_EQ(all.size(), 4u);  // the input, then one per tick
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, static_cast<int64_t>(i + 1));
  EXPECT_EQ(all[0].source, "input");
  EXPECT_EQ(all[1].source, "loop");
  json d1 = json::parse(all[1].data_json);
  EXPECT_EQ(d1["id"], 2);
  EXPECT_EQ(d1["writes"]["tick"], json({{"i", 1}}));
  EXPECT_TRUE(all.back().next.empty());  // the run was over
  EXPECT_EQ(last_thread_event(img, "c"), 4);

  auto rest = thread_events(img, "c", 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].id, 3);
  EXPECT_EQ(thread_events(img, "c", 1, 1).size(), 1u);
  EXPECT_TRUE(thread_events(img, "c", 4).empty());
  EXPECT_TRUE(thread_events(img, "nope").empty());
  EXPECT_EQ(last_thread_event(img, "nope"), 0);
  EXPECT_NE(test::error_of([&] { thread_events(img, "c", -1); }).find("0 or more"), std::string::npos);
  EXPECT_NE(test::error_of([&] { thread_events(img, "c", 0, 0); }).find("1 to 10000"), std::string::npos);
}

// The image's own log (what the console's Image page shows): newest first, paged by seq.
TEST(EventsApi, ImageEventsNewestFirstAPageAtATime) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  run_thread(img, R"({"n": 3})", {.graph = "count", .thread = "c"});
  int64_t head = img.info().head_seq;
  ASSERT_GE(head, 3);
  auto newest = image_events(img, {.limit = 2});
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].seq, head);
  EXPECT_EQ(newest[1].seq, head - 1);
  EXPECT_FALSE(newest[0].kind.empty());
  EXPECT_EQ(json::parse(newest[0].payload_json).is_object(), true);
  EXPECT_EQ(newest[0].hash, img.info().head_hash);
  auto older = image_events(img, {.before = newest[1].seq, .limit = 1000});
  ASSERT_EQ(older.size(), static_cast<size_t>(head - 2));
  EXPECT_EQ(older.front().seq, head - 2);
  EXPECT_EQ(older.back().seq, 1);
  EXPECT_TRUE(image_events(img, {.before = 1}).empty());
  EXPECT_THROW(image_events(img, {.limit = 0}), Error);
  EXPECT_THROW(image_events(img, {.before = -1}), Error);
}

}  // namespace
}  // namespace a4ps
