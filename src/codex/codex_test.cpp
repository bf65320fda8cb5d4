#include "codex/codex.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "governance/governance.h"
#include "testutil.h"

namespace a4ps::codex {
namespace {

using test::error_of;

image::Event ev(int64_t seq, const std::string& kind, const json& payload = json::object()) {
  return {seq, "t", kind, "test", payload.dump(), "", ""};
}

// The verdict of one rule at every event of a trace of kinds ("a", "b", "c", ...).
std::string trace(const std::string& rule, const std::vector<std::string>& kinds) {
  Monitor m(Codex{{}, {{"r", rule, "", false}}});
  std::string out;
  int64_t seq = 0;
  for (auto& k : kinds) {
    out += m.step(ev(++seq, k)).empty() ? '1' : '0';
    m.commit();
  }
  return out;
}

// Each operator against traces computed by hand (1: the rule holds at that event).
TEST(Rules, TemporalOperatorsMatchHandComputedTraces) {
  const std::vector<std::string> t = {"a", "b", "a", "c", "b"};
  EXPECT_EQ(trace("kind == \"a\"", t), "10100");
  EXPECT_EQ(trace("not kind == \"a\"", t), "01011");
  EXPECT_EQ(trace("previously(kind == \"a\")", t), "01010");
  EXPECT_EQ(trace("once(kind == \"c\")", t), "00011");
  EXPECT_EQ(trace("always(kind != \"c\")", t), "11100");
  EXPECT_EQ(trace("kind != \"c\" since kind == \"b\"", t), "01101");
  EXPECT_EQ(trace("kind == \"b\" -> previously(kind == \"a\")", t), "11110");
  EXPECT_EQ(trace("kind == \"a\" or kind == \"c\"", t), "10110");
  EXPECT_EQ(trace("kind == \"a\" and once(kind == \"b\")", t), "00100");
  EXPECT_EQ(trace("true", t), "11111");
  EXPECT_EQ(trace("false -> false", t), "11111");
  EXPECT_EQ(trace("once(previously(kind == \"a\") and kind == \"b\")", t), "01111");
}

TEST(Rules, ComparesPayloadFieldsAndTreatsMissingOnesAsFalse) {
  Monitor m(Codex{{}, {{"r", "kind == \"sandbox.run\" -> payload.network == \"none\"", "", false},
                       {"v", "payload.version >= 2 or payload.version < 1", "", false}}});
  EXPECT_TRUE(m.step(ev(1, "sandbox.run", {{"network", "none"}, {"version", 3}})).empty());
  auto bad = m.step(ev(2, "sandbox.run", {{"network", "host"}, {"version", 1}}));
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0]->name, "r");
  EXPECT_EQ(m.step(ev(3, "other")).size(), 1u);  // no version: both comparisons are false
}

TEST(Rules, ParseErrorsSayWhereAndWhatWasExpected) {
  auto err = [](const std::string& src) { return error_of([&] { compile(src); }); };
  EXPECT_EQ(err("kind == "), "line 1, column 9: expected a value (a \"string\", a number, true or false), found the end of the rule");
  EXPECT_EQ(err("kind = \"a\""), "line 1, column 6: unexpected character '='");
  EXPECT_EQ(err("once kind == \"a\""), "line 1, column 6: expected '(' after once, found 'kind'");
  EXPECT_EQ(err("kind == \"a\" and\n  (actor == \"x\""), "line 2, column 16: expected ')', found the end of the rule");
  EXPECT_EQ(err("kin == \"a\""), "line 1, column 1: unknown field 'kin'; expected kind, actor, seq or payload.NAME");
  EXPECT_EQ(err("payload.nosuch == 1"), "line 1, column 1: no event has a payload field 'nosuch'");
  EXPECT_EQ(err("payload.version == \"two\""), "line 1, column 20: payload.version is a number, compared with a string");
  EXPECT_EQ(err("kind < \"b\""), "line 1, column 8: only numbers can be ordered with <");
  EXPECT_EQ(err("kind == \"a\" kind"), "line 1, column 13: expected an operator (->, or, and, since) or the end of the rule, found 'kind'");
  EXPECT_EQ(err("kind == \"a"), "line 1, column 9: string is not closed (missing \")");
  EXPECT_EQ(err("payload.version > 99999999999999999999999"),  // found by the fuzzer
            "line 1, column 19: number 99999999999999999999999 is too large");
}

TEST(Rules, MonitorStateDoesNotGrowWithTheLog) {
  Monitor m(Codex{{}, {{"r", "always(kind != \"x\") and once(seq > 3) since previously(kind == \"a\")", "", false}}});
  m.step(ev(1, "a"));
  m.commit();
  const size_t after_one = m.state_size();
  for (int i = 2; i <= 1000; ++i) {
    m.step(ev(i, i % 2 ? "a" : "b"));
    m.commit();
  }
  EXPECT_EQ(m.seen(), 1000);
  EXPECT_EQ(m.state_size(), after_one);
  EXPECT_EQ(after_one, 8u);  // one value per node of the formula
}

TEST(Codex, TomlRoundTripsAndErrorsNameTheRule) {
  Codex c = default_codex();
  Codex back = parse_codex(to_toml(c));
  ASSERT_EQ(back.rules.size(), c.rules.size());
  EXPECT_EQ(back.rules[0].check, c.rules[0].check);
  EXPECT_TRUE(back.rules[0].builtin);
  EXPECT_EQ(back.principles.size(), c.principles.size());
  Codex bare;  // a codex with no principles (or no rules) round-trips too
  bare.rules = c.rules;
  EXPECT_TRUE(parse_codex(to_toml(bare)).principles.empty());
  EXPECT_EQ(parse_codex(to_toml(Codex{})).rules.size(), 0u);
  EXPECT_TRUE(parse_codex("principles = []\nrules = []\n").rules.empty());
  EXPECT_EQ(error_of([] { parse_codex("[[rules]]\nname = \"x\"\ncheck = \"kind ==\"\n", "my.toml"); }),
            "my.toml: rule 'x': line 1, column 8: expected a value (a \"string\", a number, true or false), found the end of the rule");
  EXPECT_NE(error_of([] { parse_codex("[[rules]]\nname = 1\n", "my.toml"); }).find("rules[1] needs a name and a check"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_codex("rules = 3\n", "my.toml"); }).find("must be a list of tables"), std::string::npos);
  EXPECT_NE(error_of([] { parse_codex("[[rules]\n", "my.toml"); }).find("my.toml: line 1"), std::string::npos);
}

TEST(Guard, BlocksAnUnapprovedChangeAndLogsTheRefusal) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  img.set_guard(guard(default_codex()));
  std::string e = error_of([&] { img.put(image::Kind::Tool, "add", "def add(a, b): return a + b"); });
  EXPECT_NE(e.find("the codex refused tool.version_added: rule approved-tools"), std::string::npos) << e;
  EXPECT_FALSE(img.get(image::Kind::Tool, "add"));  // the effect was rolled back with its event
  auto events = img.events();
  ASSERT_EQ(events.back().kind, "codex.violation");
  EXPECT_EQ(json::parse(events.back().payload)["event"], "tool.version_added");
  EXPECT_TRUE(img.check().ok);

  // The sanctioned path: propose, a human approves, then the change is applied.
  int64_t p = img.propose("tool.register", "add", {{"version", 1}});
  e = error_of([&] { img.apply(p, [&](const image::Proposal&) { img.put(image::Kind::Tool, "add", "x"); }); });
  EXPECT_NE(e.find("is pending, not approved"), std::string::npos) << e;
  img.decide(p, true, "alice", "reviewed");
  img.apply(p, [&](const image::Proposal&) { img.put(image::Kind::Tool, "add", "def add(a, b): return a + b"); });
  EXPECT_EQ(img.get(image::Kind::Tool, "add")->version, 1);
  EXPECT_EQ(img.proposals("applied").size(), 1u);
  EXPECT_TRUE(img.check().ok);
}

TEST(Guard, AnAdapterIsActivatedOnlyThroughAnApprovedProposal) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  img.set_guard(guard(default_codex()));
  std::string gguf = "GGUF" + std::string(1000, 'w');
  int64_t p = governance::propose_adapter(img, "brick-lora", gguf, "base-sum", "BRICK", {{"heldout_loss", 1.5}});
  EXPECT_FALSE(img.get(image::Kind::Adapter, "brick-lora"));  // stored bytes, no adapter yet
  EXPECT_NE(error_of([&] { governance::apply(img, p); }).find("not approved"), std::string::npos);
  img.decide(p, true, "alice", "held-out loss improved");
  EXPECT_EQ(governance::apply(img, p), 1);
  auto a = img.get(image::Kind::Adapter, "brick-lora");
  ASSERT_TRUE(a);
  EXPECT_EQ(img.blob(a->blob_sha256), gguf);
  EXPECT_EQ(a->meta["persona"], "BRICK");
  EXPECT_TRUE(img.check().ok);
}

TEST(Guard, TheStoreRefusesAnApprovalThatIsOnlyAStatus) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  int64_t p = img.propose("tool.register", "evil", {});
  // Something flips the status without a human's decision in the log.
  sqlite3_exec(img.db(), "UPDATE proposals SET status='approved'", nullptr, nullptr, nullptr);
  std::string e = error_of([&] { img.apply(p, [](const image::Proposal&) {}); });
  EXPECT_NE(e.find("not approved"), std::string::npos) << e;
  EXPECT_EQ(img.proposals("applied").size(), 0u);
}

TEST(Guard, EventsOfOneTransactionAreSteppedOnce) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  img.set_guard(guard(Codex{{}, {{"x-just-before-b",
      "kind == \"b\" -> previously(kind == \"x\") and not previously(previously(kind == \"x\"))", "", false}}}));
  image::Image::Tx tx(img);
  img.append_event("x", "t", {});
  EXPECT_NO_THROW(img.append_event("b", "t", {}));  // x stepped twice would look like x, x, b
  tx.commit();
}

TEST(Guard, CatchesUpWithEventsWrittenByAnotherProcess) {
  test::TempDir d;
  image::Image a = image::Image::create(d / "a.a4ps");
  a.set_guard(guard(Codex{{}, {{"no-x-after-y", "kind == \"x\" -> not once(kind == \"y\")", "", false}}}));
  a.append_event("x", "t", {});
  {
    image::Image b = image::Image::open(d / "a.a4ps");  // unguarded, like another process
    b.append_event("y", "t", {});
  }
  EXPECT_NE(error_of([&] { a.append_event("x", "t", {}); }).find("no-x-after-y"), std::string::npos);
}

// Counts the events a guard catches up on, passing everything on to the codex's guard.
class Counting final : public image::EventGuard {
 public:
  explicit Counting(std::shared_ptr<image::EventGuard> g) : g_(std::move(g)) {}
  int64_t seen() const override { return g_->seen(); }
  void catch_up(const image::Event& e) override {
    ++caught;
    g_->catch_up(e);
  }
  std::string check(const image::Event& e) override { return g_->check(e); }
  void committed() override { g_->committed(); }
  void rolled_back() override { g_->rolled_back(); }
  std::string state_key() const override { return g_->state_key(); }
  std::string save_state() const override { return g_->save_state(); }
  bool restore_state(int64_t seq, std::string_view s) override { return g_->restore_state(seq, s); }
  int64_t caught = 0;

 private:
  std::shared_ptr<image::EventGuard> g_;
};

const Codex kLocked{{{"care", "Mind the lock."}}, {{"no-write-after-lock", "kind == \"write\" -> not once(kind == \"lock\")", "", false}}};

// An image living by kLocked, whose log has a lock event at its start and `ticks` events
// after it.
void locked_log(image::Image& img, int ticks) {
  img.put(image::Kind::Codex, "codex", to_toml(kLocked));
  img.set_guard(guard(kLocked));
  img.append_event("lock", "t", {});
  image::Image::Tx tx(img);
  for (int i = 0; i < ticks; ++i) img.append_event("tick", "t", {{"i", i}});
  tx.commit();
}

// The guard's state is saved every kGuardSaveEvery events with the event it covers: an
// open starts from it and catches up only the events after it, and still remembers what
// happened long before (the lock at event 2).
TEST(Guard, AnOpenStartsFromTheSavedStateNotTheWholeLog) {
  test::TempDir d;
  {
    image::Image img = image::Image::create(d / "a.a4ps");
    locked_log(img, 2500);  // events 1 (image.created), 2 (the codex), 3 (the lock) .. 2503
    EXPECT_NE(error_of([&] { img.append_event("write", "t", {}); }).find("no-write-after-lock"), std::string::npos);
    auto saved = img.guard_states();
    ASSERT_EQ(saved.size(), 1u);
    EXPECT_EQ(saved[0].seq, 2000);  // (the refusal's own codex.violation event is 2504)
    EXPECT_EQ(saved[0].key, state_key(kLocked));
  }
  image::Image img = image::Image::open(d / "a.a4ps");
  auto g = std::make_shared<Counting>(guard(kLocked));
  img.set_guard(g);
  EXPECT_EQ(g->caught, 504);  // 2001 .. 2504
  EXPECT_NE(error_of([&] { img.append_event("write", "t", {}); }).find("no-write-after-lock"), std::string::npos);
  auto c = check_saved_states(img);
  EXPECT_EQ(c.verified, 1);
  EXPECT_TRUE(c.problems.empty()) << c.problems[0];
  // A guard of other rules has no saved state: it replays the whole log.
  auto other = std::make_shared<Counting>(guard(Codex{}));
  img.set_guard(other);
  EXPECT_EQ(other->caught, img.info().head_seq);
}

// What a proposal's codex check starts from: the saved state and the events after it,
// the same monitors a replay of the whole log gives, lock (event 3) included.
TEST(Guard, AMonitorAtTheHeadStartsFromTheSavedState) {
  test::TempDir d;
  image::Image img = image::Image::create(d / "a.a4ps");
  locked_log(img, 2500);
  Monitor full(kLocked);
  for (auto& e : img.events()) full.step(e), full.commit();
  Monitor head = monitor_at_head(img, kLocked);
  EXPECT_EQ(head.seen(), img.info().head_seq);
  EXPECT_EQ(head.save(), full.save());
  image::Event write{.seq = head.seen() + 1, .kind = "write", .actor = "t", .payload = "{}"};
  EXPECT_EQ(head.step(write).size(), 1u);
}

// A saved state is only a shortcut: one that does not match its event (another log) is
// not used, and one edited outside A4PS (here: a state from before the lock, which would
// let a write through) is found by check, which replays the log.
TEST(Guard, CheckReplaysTheLogAgainstTheSavedState) {
  test::TempDir d;
  std::filesystem::path p = d / "a.a4ps";
  std::string unlocked;
  {
    image::Image img = image::Image::create(p);
    auto g = guard(kLocked);
    img.set_guard(g);
    unlocked = g->save_state();  // nothing seen but image.created: no lock yet
    locked_log(img, 1200);
  }
  auto edit = [&](const std::string& sql, const std::string& blob = "") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    if (!blob.empty()) sqlite3_bind_blob(st, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  };
  edit("UPDATE guard_states SET event_hash = 'elsewhere'");
  {
    image::Image img = image::Image::open(p);
    auto g = std::make_shared<Counting>(guard(kLocked));
    img.set_guard(g);
    EXPECT_EQ(g->caught, 1203);  // the whole log; the replay is saved again for the next open
    auto c = check_saved_states(img);
    EXPECT_TRUE(c.problems.empty()) << c.problems[0];
    EXPECT_EQ(c.verified, 1);
  }
  edit("UPDATE guard_states SET state = ?1", unlocked);
  image::Image img = image::Image::open(p, {.read_only = true});
  auto c = check_saved_states(img);
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.problems[0], "the codex's saved state at event 1203 differs from a replay of the log");
  EXPECT_EQ(c.verified, 0);
}

}  // namespace
}  // namespace a4ps::codex
