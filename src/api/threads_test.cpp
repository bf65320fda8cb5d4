// The public threads API on real image files: runs, interrupts and resumes, history,
// edits, forks, listings and an agent conversation's transcript (scripted, fake model).
#include "a4ps/threads.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "a4ps/session.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;

Image fresh(const test::TempDir& d) { return create_image((d / "a.a4ps").string()); }

TEST(ThreadsApi, CountRunsToItsEndAndReportsEachStep) {
  test::TempDir d;
  Image img = fresh(d);
  std::vector<ThreadStep> steps;
  auto r = run_thread(img, R"({"n": 3})", {.graph = "count", .thread = "c", .on_step = [&](const ThreadStep& s) { steps.push_back(s); }});
  EXPECT_EQ(r.thread, "c");
  EXPECT_EQ(r.status, "done");
  EXPECT_EQ(json::parse(r.state_json)["i"], 3);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].node, "tick");
  EXPECT_EQ(json::parse(steps[0].update_json), json({{"i", 1}}));
  EXPECT_TRUE(r.waiting_for.empty());
  // No id: a new one.
  auto r2 = run_thread(img, R"({"n": 1})", {.graph = "count"});
  EXPECT_EQ(r2.thread.size(), 8u);
  EXPECT_NE(r2.thread, "c");
}

TEST(ThreadsApi, ReviewWaitsForAHumanAndResumesFromAnotherHandle) {
  test::TempDir d;
  {
    Image img = fresh(d);
    auto r = run_thread(img, R"({"topic": "owls"})", {.graph = "review", .thread = "t1"});
    EXPECT_EQ(r.status, "interrupted");
    EXPECT_EQ(json::parse(r.interrupts_json)[0]["payload"]["draft"], "A short note on owls.");
  }
  Image img = Image::open((d / "a.a4ps").string(), {.create_if_missing = false});
  auto t = get_thread(img, "t1");
  EXPECT_EQ(t.summary.status, "interrupted");
  EXPECT_EQ(t.summary.graph, "review");
  EXPECT_TRUE(t.has_checkpoint);
  EXPECT_EQ(json::parse(t.interrupts_json)[0]["node"], "review");
  EXPECT_TRUE(t.waiting_for.empty());  // it waits for an answer, not for a proposal
  auto r = resume_thread(img, "t1", "yes");  // not JSON: taken as a string
  EXPECT_EQ(r.status, "done");
  json st = json::parse(r.state_json);
  EXPECT_EQ(st["verdict"], "yes");
  EXPECT_EQ(st["log"], json::array({"drafted", "reviewed", "published"}));
  EXPECT_NE(test::error_of([&] { resume_thread(img, "t1", "yes"); }).find("is done, not waiting for a human"), std::string::npos);
}

TEST(ThreadsApi, HistoryCheckpointsForkAndEdit) {
  test::TempDir d;
  Image img = fresh(d);
  run_thread(img, R"({"n": 3})", {.graph = "count", .thread = "c"});
  auto h = thread_history(img, "c");
  ASSERT_EQ(h.size(), 4u);  // input + 3 ticks, newest first
  EXPECT_EQ(h[0].step, 3);
  EXPECT_EQ(h[0].parent_id, h[1].id);
  EXPECT_EQ(h[0].node, "tick");
  EXPECT_EQ(h[3].source, "input");
  EXPECT_TRUE(h[0].next.empty());
  EXPECT_EQ(thread_checkpoint(img, "c").id, h[0].id);  // "" is the newest
  std::string first_tick = h[2].id;
  EXPECT_EQ(json::parse(thread_checkpoint(img, "c", first_tick).state_json)["i"], 1);

  auto f = fork_thread(img, "c", first_tick, "c2");
  EXPECT_EQ(f.thread, "c2");
  std::string edited = edit_thread(img, "c2", R"({"n": 5})");
  EXPECT_EQ(json::parse(thread_checkpoint(img, "c2", edited).state_json)["n"], 5);
  auto r = resume_thread(img, "c2");
  EXPECT_EQ(json::parse(r.state_json)["i"], 5);
  EXPECT_EQ(json::parse(get_thread(img, "c").latest.state_json)["i"], 3);  // the original is left alone
  EXPECT_EQ(thread_history(img, "c").size(), 4u);
  // A fork of the newest checkpoint by default, into a new id.
  auto f2 = fork_thread(img, "c");
  EXPECT_EQ(json::parse(thread_checkpoint(img, f2.thread).state_json)["i"], 3);
}

TEST(ThreadsApi, ListingsFilterAndPage) {
  test::TempDir d;
  Image img = fresh(d);
  run_thread(img, R"({"n": 1})", {.graph = "count", .thread = "alpha"});
  run_thread(img, R"({"n": 1})", {.graph = "count", .thread = "beta"});
  run_thread(img, R"({"topic": "owls"})", {.graph = "review", .thread = "gamma"});
  EXPECT_EQ(list_threads(img).size(), 3u);
  auto done = list_threads(img, {.status = "done"});
  ASSERT_EQ(done.size(), 2u);
  for (auto& t : done) EXPECT_EQ(t.graph, "count");
  auto waiting = list_threads(img, {.status = "interrupted"});
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0].id, "gamma");
  EXPECT_EQ(list_threads(img, {.text = "ALPH"}).at(0).id, "alpha");  // case-insensitive
  EXPECT_EQ(list_threads(img, {.graph = "review"}).size(), 1u);
  auto page1 = list_threads(img, {.limit = 2});
  auto page2 = list_threads(img, {.limit = 2, .offset = 2});
  ASSERT_EQ(page1.size(), 2u);
  ASSERT_EQ(page2.size(), 1u);
  for (auto& t : page1) EXPECT_NE(t.id, page2[0].id);
  EXPECT_NE(test::error_of([&] { list_threads(img, {.status = "sleeping"}); }).find("no thread status 'sleeping'"), std::string::npos);
  auto names = graph_names();
  EXPECT_EQ(names, (std::vector<std::string>{"act", "agent", "count", "propose-tool", "review"}));
}

TEST(ThreadsApi, BadInputIsOneClearLineAndChangesNothing) {
  test::TempDir d;
  Image img = fresh(d);
  int64_t events = img.info().events;
  auto msg = test::error_of([&] { run_thread(img, "[1", {.graph = "count", .thread = "x"}); });
  EXPECT_NE(msg.find("must be a JSON object"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_NE(test::error_of([&] { run_thread(img, "{}", {.graph = "nope"}); }).find("no graph named 'nope'"), std::string::npos);
  EXPECT_NE(test::error_of([&] { get_thread(img, "ghost"); }).find("no thread 'ghost'"), std::string::npos);
  EXPECT_NE(test::error_of([&] { thread_history(img, "ghost"); }).find("no thread 'ghost'"), std::string::npos);
  EXPECT_EQ(img.info().events, events);
  EXPECT_TRUE(list_threads(img).empty());

  run_thread(img, R"({"n": 1})", {.graph = "count", .thread = "c"});
  EXPECT_NE(test::error_of([&] { run_thread(img, "{}", {.graph = "count", .thread = "c"}); }).find("already exists"), std::string::npos);
  EXPECT_NE(test::error_of([&] { thread_checkpoint(img, "c", "999"); }).find("no checkpoint 999"), std::string::npos);
  EXPECT_NE(test::error_of([&] { edit_thread(img, "c", "5"); }).find("must be a JSON object"), std::string::npos);
  EXPECT_EQ(thread_history(img, "c").size(), 2u);  // the refused edit wrote nothing
  EXPECT_NE(test::error_of([&] { run_thread(img, "{}", {.graph = "count", .step_limit = 2}); }).find("step"), std::string::npos);

  Image ro = Image::open((d / "a.a4ps").string(), {.read_only = true});
  EXPECT_NE(test::error_of([&] { edit_thread(ro, "c", R"({"n": 2})"); }).find("read-only"), std::string::npos);
  EXPECT_NE(test::error_of([&] { thread_transcript(img, "c"); }).find("is not an agent conversation"), std::string::npos);
}

TEST(ThreadsApi, AnAgentConversationHasATitleAndATranscript) {
  test::TempDir d;
  Image img = fresh(d);
  write_file(d / "model.jsonl",
             R"({"persona": "ALFRED", "match": "routing turn 1 ", "text": "{\"next\": \"ANSWER\", \"brief\": \"easy\"}"})"
             "\n"
             R"({"persona": "ALFRED", "match": "Write the answer", "text": "Four."})"
             "\n");
  {
    Session s(img, {.model = "scripted:" + (d / "model.jsonl").string()});
    EXPECT_EQ(s.ask("chat", "What is 2 + 2?").text, "Four.");
  }
  auto t = list_threads(img, {.graph = "agent"});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].title, "What is 2 + 2?");
  EXPECT_EQ(t[0].tasks, 1);
  EXPECT_EQ(list_threads(img, {.text = "2 + 2"}).size(), 1u);
  std::string md = thread_transcript(img, "chat");
  EXPECT_EQ(md.rfind("# Thread chat\n", 0), 0u) << md;
  EXPECT_NE(md.find("## Task 1: What is 2 + 2?"), std::string::npos) << md;
  EXPECT_NE(md.find("## Answer\n\nFour."), std::string::npos) << md;
  EXPECT_EQ(md.find("<details>"), std::string::npos);
  EXPECT_NE(thread_transcript(img, "chat", true).find("<details>"), std::string::npos);
}

}  // namespace
}  // namespace a4ps
