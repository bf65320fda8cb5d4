#include "graph/graph.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

#include "graph_fixtures.h"
#include "image/image.h"
#include "image/sqlite.h"
#include "testutil.h"
#include "util/env.h"

namespace a4ps::graph {
namespace {

using test::error_of;

TEST(Reducers, CombineAsDocumented) {
  EXPECT_EQ(replace()(1, 2), 2);
  EXPECT_EQ(append()(json::array({1}), json::array({2, 3})), json::array({1, 2, 3}));
  EXPECT_EQ(append()(nullptr, "x"), json::array({"x"}));
  EXPECT_EQ(merge()(json{{"a", 1}, {"b", 1}}, json{{"b", 2}}), (json{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(add()(2, 3), 5);
  EXPECT_DOUBLE_EQ(add()(0.5, 1).get<double>(), 1.5);
  EXPECT_THROW(add()(1, "x"), Error);
  EXPECT_THROW(merge()(json::object(), 3), Error);
}

TEST(Graph, CustomReducerAndUnknownKeys) {
  auto cp = memory_checkpointer();
  StateGraph g;
  g.channel("max", [](const json& a, const json& b) { return a.is_null() || b > a ? b : a; });
  g.channel("n", add(), 0);
  g.node("a", [](const json&, NodeContext&) { return json{{"max", 3}, {"n", 1}}; });
  g.node("b", [](const json&, NodeContext&) { return json{{"max", 2}, {"n", 1}}; });
  g.edge(START, "a").edge("a", "b").edge("b", END);
  auto r = g.compile({.checkpointer = cp.get()}).invoke(json{{"max", 1}}, {.thread_id = "t"});
  EXPECT_EQ(r.state, (json{{"max", 3}, {"n", 2}}));
  StateGraph bad;
  bad.node("a", [](const json&, NodeContext&) { return json{{"nope", 1}}; }).edge(START, "a").edge("a", END);
  EXPECT_NE(error_of([&] { bad.compile({.checkpointer = cp.get()}).invoke(json::object(), {.thread_id = "u"}); })
                .find("unknown state key 'nope'"),
            std::string::npos);
}

TEST(Graph, CompileRejectsBadWiring) {
  auto noop = [](const json&, NodeContext&) { return json::object(); };
  StateGraph a;
  a.node("x", noop).edge("x", END);
  EXPECT_NE(error_of([&] { a.compile(); }).find("no entry"), std::string::npos);
  StateGraph b;
  b.node("x", noop).edge(START, "x").edge("x", "y");
  EXPECT_NE(error_of([&] { b.compile(); }).find("unknown node 'y'"), std::string::npos);
  StateGraph c;
  c.node("x", noop).node("z", noop).edge(START, "x").edge("x", END);
  EXPECT_NE(error_of([&] { c.compile(); }).find("node 'z' has no outgoing edge"), std::string::npos);
  EXPECT_NE(error_of([&] { c.node("x", noop); }).find("defined twice"), std::string::npos);
  EXPECT_NE(error_of([&] { c.node(START, noop); }).find("reserved"), std::string::npos);
}

TEST(Graph, RunsAreDeterministic) {
  auto run = [] {
    auto cp = memory_checkpointer();
    auto g = test::loop_graph(300).compile({.checkpointer = cp.get()});
    auto r = g.invoke(json::object(), {.thread_id = "t", .step_limit = 10000});
    json h = json::array();
    for (auto& c : g.history("t")) h.push_back({c.id, c.parent_id, c.step, c.state, c.next, c.meta});
    return std::make_pair(r.state, h);
  };
  auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
  EXPECT_EQ(a.first["i"], 300);
  EXPECT_EQ(a.first["log"], json::array({100, 200, 300}));
  EXPECT_EQ(a.second.size(), 1u + 900u);  // the input checkpoint + one per step
}

TEST(Graph, StepLimitIsAClearErrorAndKeepsTheThread) {
  auto cp = memory_checkpointer();
  auto g = test::loop_graph(1000000).compile({.checkpointer = cp.get(), .name = "loop"});
  std::string err = error_of([&] { g.invoke(json::object(), {.thread_id = "t", .step_limit = 50}); });
  EXPECT_NE(err.find("hit the step limit of 50 steps"), std::string::npos) << err;
  EXPECT_EQ(cp->thread("t")->status, "error");
  EXPECT_EQ(g.history("t").size(), 51u);
  // Invoking again continues where it stopped, for another 30 steps.
  EXPECT_THROW(g.invoke(nullptr, {.thread_id = "t", .step_limit = 30}), StepLimitError);
  EXPECT_EQ(g.history("t").size(), 81u);
}

TEST(Graph, ACancelledRunStopsBeforeItsNextStepAndResumes) {
  auto cp = memory_checkpointer();
  auto g = test::loop_graph(30).compile({.checkpointer = cp.get(), .name = "loop"});
  int asked = 0;  // cancelled once 10 steps have run
  std::string err = error_of([&] {
    g.invoke(json::object(), {.thread_id = "t", .step_limit = 1000, .cancelled = [&] { return ++asked > 10; }});
  });
  EXPECT_NE(err.find("was cancelled before step 11"), std::string::npos) << err;
  EXPECT_EQ(cp->thread("t")->status, "error");
  EXPECT_EQ(g.history("t").size(), 11u);  // the input checkpoint + the 10 steps that ran
  auto r = g.invoke(nullptr, {.thread_id = "t", .step_limit = 1000});  // goes on from step 10
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.state["i"], 30);
  EXPECT_EQ(g.history("t").size(), 1u + 90u);  // nothing redone
}

TEST(Graph, ListAfterReadsCheckpointsOldestFirstFromAnyOne) {
  for (bool image : {false, true}) {
    test::TempDir d;
    std::optional<image::Image> img;
    if (image) img.emplace(image::Image::create(d / "g.a4ps"));
    auto cp = image ? image_checkpointer(*img) : memory_checkpointer();
    auto g = test::loop_graph(2).compile({.checkpointer = cp.get()});
    g.invoke(json::object(), {.thread_id = "t", .step_limit = 100});
    auto all = cp->list_after("t", "", 1000);
    ASSERT_EQ(all.size(), 7u) << image;  // the input + 3 nodes x 2 rounds
    for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].parent_id, all[i - 1].id) << image;
    auto rest = cp->list_after("t", all[4].id, 1, false);
    ASSERT_EQ(rest.size(), 1u) << image;
    EXPECT_EQ(rest[0].id, all[5].id) << image;
    EXPECT_EQ(rest[0].state, json::object()) << image;  // without its state
    EXPECT_FALSE(rest[0].meta.empty()) << image;
    EXPECT_TRUE(cp->list_after("t", all[6].id, 10).empty()) << image;
    EXPECT_TRUE(cp->list_after("nope", "", 10).empty()) << image;
  }
}

TEST(Graph, FanOutMergesInADeterministicOrder) {
  auto cp = memory_checkpointer();
  StateGraph g;
  g.channel("seen", append(), json::array());
  for (std::string n : {"zeta", "alpha", "mid", "join"})
    g.node(n, [n](const json&, NodeContext&) { return json{{"seen", n}}; });
  g.edge(START, "zeta").edge(START, "alpha").edge("zeta", "join").edge("alpha", "mid").edge("mid", "join");
  g.edge("join", END);
  auto r = g.compile({.checkpointer = cp.get()}).invoke(json::object(), {.thread_id = "t"});
  // step 1 runs alpha and zeta together (sorted); step 2 runs join and mid; join again after mid.
  EXPECT_EQ(r.state["seen"], json::array({"alpha", "zeta", "join", "mid", "join"}));
}

TEST(Graph, FinishedTasksOfAStepAreNotRedoneAfterAFailure) {
  for (int where : {0, 1, 2}) {  // in memory; in an image, resumed by the same checkpointer or by another's
    test::TempDir d;
    std::optional<image::Image> img;
    if (where > 0) img.emplace(image::Image::create(d / "g.a4ps"));
    auto first = where > 0 ? image_checkpointer(*img) : memory_checkpointer();
    auto* cp = first.get();
    int a_calls = 0, b_calls = 0;
    bool fail = true;
    StateGraph g;
    g.channel("out", append(), json::array());
    g.node("a", [&](const json&, NodeContext&) { ++a_calls; return json{{"out", "a"}}; });
    g.node("b", [&](const json&, NodeContext&) -> json {
      ++b_calls;
      if (fail) throw std::runtime_error("disk on fire");
      return json{{"out", "b"}};
    });
    g.edge(START, "a").edge(START, "b").edge("a", END).edge("b", END);
    std::string err = error_of([&] { g.compile({.checkpointer = cp}).invoke(json::object(), {.thread_id = "t"}); });
    EXPECT_NE(err.find("node 'b' failed at step 1: disk on fire"), std::string::npos) << err;
    fail = false;
    auto second = where == 2 ? image_checkpointer(*img) : nullptr;
    if (second) cp = second.get();
    auto r = g.compile({.checkpointer = cp}).invoke(nullptr, {.thread_id = "t"});
    EXPECT_EQ(r.status, "done") << where;
    EXPECT_EQ(r.state["out"], json::array({"a", "b"})) << where;
    EXPECT_EQ(a_calls, 1) << where;  // its write was kept as a pending write
    EXPECT_EQ(b_calls, 2) << where;
  }
}

StateGraph review_graph() {
  StateGraph g;
  g.channel("draft").channel("verdict").channel("done", replace(), false);
  g.node("write", [](const json& s, NodeContext&) { return json{{"draft", "text about " + s["topic"].get<std::string>()}}; });
  g.node("review", [](const json& s, NodeContext& ctx) {
    json answer = ctx.interrupt({{"question", "approve?"}, {"draft", s["draft"]}});
    return json{{"verdict", answer}};
  });
  g.node("finish", [](const json&, NodeContext&) { return json{{"done", true}}; });
  g.channel("topic");
  g.edge(START, "write").edge("write", "review").edge("review", "finish").edge("finish", END);
  return g;
}

TEST(Graph, DynamicInterruptStopsAndResumeAnswersIt) {
  auto cp = memory_checkpointer();
  auto g = review_graph().compile({.checkpointer = cp.get()});
  auto r = g.invoke(json{{"topic", "owls"}}, {.thread_id = "t"});
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.interrupts[0]["node"], "review");
  EXPECT_EQ(r.interrupts[0]["payload"]["draft"], "text about owls");
  EXPECT_EQ(cp->thread("t")->status, "interrupted");
  EXPECT_EQ(g.state("t").pending_interrupts.size(), 1u);
  EXPECT_NE(error_of([&] { g.invoke(json::object(), {.thread_id = "nope", .checkpoint_id = "9"}); }).find("no checkpoint"),
            std::string::npos);
  r = g.resume("yes", {.thread_id = "t"});
  EXPECT_EQ(r.status, "done");
  EXPECT_EQ(r.state["verdict"], "yes");
  EXPECT_EQ(r.state["done"], true);
  EXPECT_NE(error_of([&] { g.resume("again", {.thread_id = "t"}); }).find("not waiting for a human"), std::string::npos);
}

TEST(Graph, InterruptBeforeAndAfterNamedNodes) {
  auto cp = memory_checkpointer();
  auto g = test::loop_graph(3).compile({.checkpointer = cp.get(), .interrupt_before = {"mix"}, .interrupt_after = {"log"}});
  auto r = g.invoke(json::object(), {.thread_id = "t"});
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.interrupts[0]["kind"], "before");
  EXPECT_EQ(r.state["i"], 1);
  EXPECT_EQ(g.state("t").checkpoint.next, std::vector<std::string>{"mix"});
  r = g.resume(nullptr, {.thread_id = "t"});
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.interrupts[0]["kind"], "after");
  EXPECT_EQ(g.state("t").checkpoint.next, std::vector<std::string>{"inc"});
}

TEST(Graph, InterruptAndResumeAcrossARestartWithTheImage) {
  test::TempDir d;
  auto path = d / "a.a4ps";
  { image::Image::create(path); }
  {
    image::Image img = image::Image::open(path);
    auto cp = image_checkpointer(img);
    auto r = review_graph().compile({.checkpointer = cp.get(), .name = "review"}).invoke(json{{"topic", "owls"}}, {.thread_id = "t"});
    ASSERT_EQ(r.status, "interrupted");
  }  // everything closed: a new process would start from the file alone
  image::Image img = image::Image::open(path);
  auto cp = image_checkpointer(img);
  auto g = review_graph().compile({.checkpointer = cp.get(), .name = "review"});
  auto r = g.resume("approved", {.thread_id = "t"});
  EXPECT_EQ(r.status, "done");
  EXPECT_EQ(r.state["verdict"], "approved");
  std::vector<std::string> kinds;
  for (auto& e : img.events()) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"image.created", "thread.started", "thread.interrupted", "thread.resumed",
                                             "thread.finished"}));
  EXPECT_TRUE(img.check().ok);
}

TEST(Graph, TimeTravelBranchesLeaveTheOriginalIntact) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  auto cp = image_checkpointer(img);
  auto g = test::loop_graph(5).compile({.checkpointer = cp.get()});
  auto r = g.invoke(json::object(), {.thread_id = "t"});
  ASSERT_EQ(r.state["i"], 5);
  auto original = g.history("t");
  // The checkpoint after the first "inc" (i == 1), next: mix.
  const Checkpoint* old = nullptr;
  for (auto& c : original)
    if (c.state["i"] == 1 && c.next == std::vector<std::string>{"mix"}) old = &c;
  ASSERT_TRUE(old);
  EXPECT_EQ(g.state("t", old->id).checkpoint.state["i"], 1);
  // Edit there: jump i to 3; the branch continues from the edit.
  std::string edited = g.update_state("t", json{{"i", 2}}, "", old->id);
  auto branch = g.invoke(nullptr, {.thread_id = "t", .checkpoint_id = edited});
  EXPECT_EQ(branch.state["i"], 5);
  EXPECT_NE(branch.state["acc"], r.state["acc"]);  // a different path to 5
  EXPECT_EQ(g.state("t", edited).checkpoint.parent_id, old->id);
  for (auto& c : original) {  // every original checkpoint is unchanged
    auto now = g.state("t", c.id).checkpoint;
    EXPECT_EQ(now.state, c.state);
    EXPECT_EQ(now.parent_id, c.parent_id);
  }
  // Fork into a new thread from the old checkpoint and run it to the end.
  std::string f = g.fork("t", old->id, "t2");
  EXPECT_EQ(g.invoke(nullptr, {.thread_id = "t2"}).state, r.state);  // replaying reaches the original end
  EXPECT_EQ(cp->thread("t2")->meta["forked_from"]["checkpoint"], old->id);
  EXPECT_NE(error_of([&] { g.fork("t", old->id, "t2"); }).find("already exists"), std::string::npos);
  (void)f;
}

// A conversation: each turn appends the user's message (the input) and a reply, replaces
// a note and counts the turns.
StateGraph chat_graph() {
  StateGraph g;
  g.channel("messages", append(), json::array()).channel("note").channel("turns", add(), 0);
  g.node("reply", [](const json& s, NodeContext&) {
    std::string last = s["messages"].back()["content"];
    return json{{"messages", json::array({{{"role", "assistant"}, {"content", "re: " + last}}})},
                {"note", "answered " + last},
                {"turns", 1}};
  });
  g.edge(START, "reply").edge("reply", END);
  return g;
}
json user(int turn) {
  return json{{"messages", json::array({{{"role", "user"}, {"content", "question " + std::to_string(turn)}}})}};
}

// Everything a checkpoint is, as one value to compare.
json whole(const Checkpoint& c) { return {c.thread_id, c.id, c.parent_id, c.step, c.state, c.next, c.meta}; }
json all_of(const Checkpointer& cp, const std::string& thread) {
  json out = json::array();
  for (auto& c : cp.list(thread)) out.push_back(whole(c));
  return out;
}
int64_t row_bytes(const image::Image& img, const std::string& thread, const std::string& id) {
  return image::sql::scalar_i64(img.db(), "SELECT length(state) FROM checkpoints WHERE thread_id='" + thread + "' AND id='" + id + "'");
}

// The same run — a conversation, an edit of an old step, a branch from it and a fork —
// with the default (delta) rows and with whole-state rows reads back the same, also by a
// checkpointer that remembers nothing of the writing; the delta rows stay as small as a
// turn however long the conversation.
TEST(Graph, DeltaCheckpointsReadBackAsWholeStateOnesDo) {
  test::TempDir d;
  image::Image delta_img = image::Image::create(d / "delta.a4ps"), full_img = image::Image::create(d / "full.a4ps");
  auto delta = image_checkpointer(delta_img), full = image_checkpointer(full_img, Durability::Normal, Layout::FullState);
  std::string third_turn;
  for (auto* cp : {delta.get(), full.get()}) {
    auto g = chat_graph().compile({.checkpointer = cp, .name = "chat"});
    for (int turn = 1; turn <= 60; ++turn) {
      auto r = g.invoke(user(turn), {.thread_id = "t"});
      if (turn == 3) third_turn = r.checkpoint_id;
    }
    std::string edited = g.update_state("t", json{{"note", "edited"}, {"messages", json::array({"a human's aside"})}}, "", third_turn);
    g.invoke(user(100), {.thread_id = "t", .checkpoint_id = edited});  // a branch off turn 3
    g.fork("t", third_turn, "t2");
    g.invoke(user(200), {.thread_id = "t2"});
    EXPECT_EQ(g.state("t").checkpoint.state["turns"], 4);
    EXPECT_EQ(g.state("t").checkpoint.state["messages"].size(), 9u);
  }
  for (std::string t : {"t", "t2"}) {
    json a = all_of(*delta, t), b = all_of(*full, t);
    ASSERT_EQ(a.size(), b.size()) << t;
    for (size_t i = 0; i < a.size(); ++i) {  // (created_at differs)
      EXPECT_EQ(a[i], b[i]) << t << " checkpoint " << a[i][1];
    }
    auto fresh = image_checkpointer(delta_img);  // reads from the rows alone
    EXPECT_EQ(all_of(*fresh, t), a) << t;
    EXPECT_EQ(whole(*fresh->get("t", "")), whole(*full->get("t", ""))) << t;
    json after = json::array();
    for (auto& c : fresh->list_after(t, "", 1000)) after.insert(after.begin(), whole(c));
    EXPECT_EQ(after, a) << t;
  }
  // Turn 60's reply row holds one new message and the changed note, not 120 messages.
  auto h = full->list("t");
  std::string turn60 = h[3].id;  // newest first: the branch's 3 rows, then turn 60's reply
  ASSERT_EQ(h[3].state["turns"], 60);
  EXPECT_LT(row_bytes(delta_img, "t", turn60), 250);
  EXPECT_GT(row_bytes(full_img, "t", turn60), 4000);
  ASSERT_EQ(h[3 + 2 * 50].state["turns"], 10);
  std::string turn10 = h[3 + 2 * 50].id;
  EXPECT_LE(row_bytes(delta_img, "t", turn60), row_bytes(delta_img, "t", turn10) + 4);  // flat: a digit or two more
}

// A thread can hold rows of both layouts (an image written before, continued now, or a
// program of either kind writing it): every state reads as the run left it.
TEST(Graph, AThreadMixesBothLayouts) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "mixed.a4ps");
  auto mem = memory_checkpointer();
  auto reference = chat_graph().compile({.checkpointer = mem.get(), .name = "chat"});
  int turn = 0;
  for (Layout l : {Layout::FullState, Layout::Delta, Layout::FullState, Layout::Delta}) {
    auto cp = image_checkpointer(img, Durability::Normal, l);
    auto g = chat_graph().compile({.checkpointer = cp.get(), .name = "chat"});
    for (int i = 0; i < 5; ++i, ++turn) {
      g.invoke(user(turn), {.thread_id = "t"});
      reference.invoke(user(turn), {.thread_id = "t"});
    }
  }
  EXPECT_GT(image::sql::scalar_i64(img.db(), "SELECT count(*) FROM checkpoints WHERE channels IS NULL"), 0);
  EXPECT_GT(image::sql::scalar_i64(img.db(), "SELECT count(*) FROM checkpoints WHERE channels IS NOT NULL"), 0);
  auto cp = image_checkpointer(img);
  auto rows = cp->list("t"), want = mem->list("t");
  ASSERT_EQ(rows.size(), want.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].state, want[i].state) << rows[i].id;
    EXPECT_EQ(rows[i].meta, want[i].meta) << rows[i].id;
  }
}

// A delta row needs the rows it builds on; one gone (edited outside A4PS) is named, not
// read as a shorter conversation.
TEST(Graph, AMissingRowIsReportedNotPapered) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  auto cp = image_checkpointer(img);
  auto g = chat_graph().compile({.checkpointer = cp.get(), .name = "chat"});
  for (int turn = 0; turn < 3; ++turn) g.invoke(user(turn), {.thread_id = "t"});
  image::sql::exec(img.db(), "DELETE FROM checkpoints WHERE thread_id='t' AND id='000000000002'");
  auto fresh = image_checkpointer(img);
  std::string err = error_of([&] { fresh->get("t", ""); });
  EXPECT_NE(err.find("thread 't' in this image is damaged: checkpoint 000000000002 is missing"), std::string::npos) << err;
}

TEST(Graph, StepNumbersFollowWritesOfOtherConnectionsAndSavers) {
  // A saver keeps the newest number it committed and trusts it only while the image is
  // unchanged since (SQLite's data version): any other writer makes it read again.
  test::TempDir d;
  image::Image a = image::Image::create(d / "a.a4ps");
  image::Image b = image::Image::open(d / "a.a4ps");
  auto ca = image_checkpointer(a), cb = image_checkpointer(b), ca2 = image_checkpointer(a);
  Checkpoint c;
  c.thread_id = "t";
  c.state = json{{"i", 0}};
  auto put = [&](Checkpointer& s) {
    c.state["i"] = c.state["i"].get<int>() + 1;
    c.parent_id = s.put(c);
    return c.parent_id;
  };
  EXPECT_EQ(put(*ca), "000000000001");
  EXPECT_EQ(put(*ca), "000000000002");
  EXPECT_EQ(put(*cb), "000000000003");  // another connection
  EXPECT_EQ(put(*ca), "000000000004");
  EXPECT_EQ(put(*ca2), "000000000005");  // another saver on the same connection
  EXPECT_EQ(put(*ca), "000000000006");
  image::sql::Stmt(b.db(), "DELETE FROM checkpoints WHERE thread_id='t' AND id='000000000006'").run();
  c.parent_id = "000000000005";
  EXPECT_EQ(put(*ca), "000000000006");  // the newest row is gone: numbered after the one left
  EXPECT_EQ(put(*ca), "000000000007");
  auto all = ca->list_after("t", "", 100);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all.back().state, (json{{"i", 8}}));
  {
    // Inside a caller's transaction the data version stands still: another saver's step there
    // is seen all the same.
    image::Image::Tx tx(a);
    EXPECT_EQ(put(*ca2), "000000000008");
    EXPECT_EQ(put(*ca), "000000000009");
    tx.commit();
  }
}

// Rows are keyed by thread number and step (graph module version 2): threads written in
// turns keep their own ranges, a thread numbered in a transaction that rolled back is
// numbered again, and an id that spells no checkpoint is a clear error, not a crash.
TEST(Graph, InterleavedThreadsKeepTheirOwnKeys) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "k.a4ps");
  auto cp = image_checkpointer(img);
  auto put = [&](const std::string& thread, int i) {
    Checkpoint c;
    c.thread_id = thread;
    if (auto last = cp->get(thread)) c.parent_id = last->id;
    c.state = json{{"i", i}};
    return cp->put(c);
  };
  {
    image::Image::Tx tx(img);  // never committed: "gone" and its number with it
    put("gone", 1);
  }
  for (int i = 1; i <= 30; ++i) {
    put("a", i);
    if (i % 3 == 0) put("b", 100 + i);
  }
  put("gone", 7);
  EXPECT_EQ(cp->list("a").size(), 30u);
  EXPECT_EQ(cp->list("b").size(), 10u);
  ASSERT_EQ(cp->list("gone").size(), 1u);
  EXPECT_EQ(cp->get("gone")->state, (json{{"i", 7}}));
  EXPECT_EQ(cp->get("a", "000000000017")->state, (json{{"i", 17}}));
  EXPECT_EQ(cp->get("b")->state, (json{{"i", 130}}));
  auto after = cp->list_after("b", "000000000008", 5);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].state, (json{{"i", 127}}));
  EXPECT_FALSE(cp->get("a", "no-such-id").has_value());
  EXPECT_FALSE(cp->get("nobody").has_value());
  EXPECT_TRUE(cp->list("nobody").empty());
  EXPECT_NE(error_of([&] { cp->list_after("a", "x7", 5); }).find("'x7' is not a checkpoint id of thread 'a'"),
            std::string::npos);
  EXPECT_EQ(cp->newest_id("a"), "000000000030");
  EXPECT_EQ(cp->newest_id("nobody"), "");
  EXPECT_EQ(cp->thread("a")->checkpoints, 30);
  EXPECT_EQ(cp->thread("gone")->checkpoints, 1);
  // Each row's key is its thread's number and its own.
  EXPECT_EQ(image::sql::scalar_i64(img.db(), "SELECT count(*) FROM checkpoints c JOIN checkpoint_threads n "
                                             "ON n.thread_id=c.thread_id WHERE c.k != (n.no<<40 | CAST(c.id AS INTEGER))"),
            0);
  auto fresh = image_checkpointer(img);  // remembers nothing of the writing
  EXPECT_EQ(fresh->list("a", 3)[0].state, (json{{"i", 30}}));
  EXPECT_TRUE(img.check().ok);
  // `image check` finds a row under another key, and pending writes of no checkpoint
  // (what the foreign key from checkpoint_writes said before the keyed layout).
  {
    image::Image::Tx tx(img);
    image::sql::exec(img.db(), "UPDATE checkpoints SET k = k + 100 WHERE thread_id='b' AND id='000000000004'");
    tx.commit();
  }
  cp->put_writes("a", "000000000999", {{"inc", "i", 1}});
  auto report = img.check();
  EXPECT_FALSE(report.ok);
  std::string all;
  for (auto& p : report.problems) all += p + "\n";
  EXPECT_NE(all.find("graph: checkpoint 000000000004 of thread 'b' is filed under another key"), std::string::npos) << all;
  EXPECT_NE(all.find("graph: a pending write of thread 'a' names checkpoint 000000000999, which is missing"),
            std::string::npos) << all;
}

TEST(Graph, CheckpointTimesAreSpelledAsEverywhereElse) {
  // The saver formats a step's time itself (once per second); it must read as now_utc().
  struct Clock : EnvWrapper {
    Clock() : EnvWrapper(Env::Default()) {}
    int64_t now_ms() override { return ms; }
    int64_t ms = 0;
  } clock;
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps", {.env = &clock});
  auto cp = image_checkpointer(img);
  Checkpoint c;
  c.thread_id = "t";
  for (int64_t ms : {int64_t{1764174600123}, int64_t{1764174600999}, int64_t{1764174601005}, int64_t{1764174601000},
                     int64_t{1764261000007}, int64_t{1764174600050}}) {
    clock.ms = ms;
    c.parent_id = cp->put(c);
    EXPECT_EQ(cp->get("t", c.parent_id)->created_at, format_utc(ms)) << ms;
  }
}

TEST(Graph, SubgraphRunsInsideOneStep) {
  auto cp = memory_checkpointer();
  StateGraph inner;
  inner.channel("x", add(), 0);
  inner.node("double", [](const json& s, NodeContext&) { return json{{"x", s["x"]}}; });
  inner.node("plus1", [](const json&, NodeContext&) { return json{{"x", 1}}; });
  inner.edge(START, "double").edge("double", "plus1").edge("plus1", END);
  auto sub = std::make_shared<const CompiledGraph>(inner.compile({.name = "inner"}));
  StateGraph outer;
  outer.channel("x", replace(), 0);
  outer.subgraph("calc", sub).edge(START, "calc").edge("calc", END);
  auto r = outer.compile({.checkpointer = cp.get()}).invoke(json{{"x", 5}}, {.thread_id = "t"});
  EXPECT_EQ(r.state["x"], 11);
  EXPECT_EQ(r.steps, 1);
}

TEST(Graph, StreamsNodeAndCheckpointEvents) {
  auto cp = memory_checkpointer();
  std::vector<std::string> seen;
  StateGraph g;
  g.channel("n", add(), 0);
  g.node("a", [](const json&, NodeContext& ctx) { ctx.emit({{"token", "hi"}}); return json{{"n", 1}}; });
  g.edge(START, "a").edge("a", END);
  g.compile({.checkpointer = cp.get()}).invoke(json::object(), {.thread_id = "t", .on_event = [&](const StreamEvent& e) {
    seen.push_back(e.type + (e.node.empty() ? "" : ":" + e.node));
  }});
  EXPECT_EQ(seen, (std::vector<std::string>{"checkpoint", "node_start:a", "custom:a", "node_end:a", "checkpoint", "done"}));
}

}  // namespace
}  // namespace a4ps::graph
