// The public governance API on real image files: a proposal from a graph run, shown,
// decided, applied (and refused without approval); the codex shown, checked, amended.
#include "a4ps/governance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "a4ps/threads.h"
#include "codex/codex.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;

const char* kAdd = "def add(a, b):\n    return a + b\n";

TEST(GovernanceApi, AToolProposalIsShownDecidedAndApplied) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  auto r = run_thread(img, json({{"name", "add"}, {"source", kAdd}}).dump(), {.graph = "propose-tool", .thread = "t"});
  ASSERT_EQ(r.status, "interrupted");
  ASSERT_EQ(r.waiting_for, std::vector<int64_t>{1});
  EXPECT_EQ(get_thread(img, "t").waiting_for, std::vector<int64_t>{1});

  auto pending = list_proposals(img);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].kind, "tool.register");
  EXPECT_EQ(pending[0].target, "add");
  EXPECT_EQ(pending[0].status, "pending");

  auto p = show_proposal(img, 1);
  EXPECT_EQ(p.before, "");
  EXPECT_EQ(p.after, kAdd);
  EXPECT_NE(p.diff.find("+    return a + b"), std::string::npos) << p.diff;
  EXPECT_NE(p.summary.find("tool.register add"), std::string::npos);
  EXPECT_TRUE(p.codex_problems.empty());  // applying it after its proposal is what the codex asks
  EXPECT_FALSE(p.tests_passed);  // not from the forge: no tests recorded

  // The image refuses an apply without an approval, whoever asks.
  EXPECT_NE(test::error_of([&] { apply_proposal(img, 1); }).find("is pending, not approved"), std::string::npos);
  EXPECT_EQ(decide_proposal(img, 1, true, "looks right", "human:ada"), "human:ada");
  EXPECT_NE(test::error_of([&] { decide_proposal(img, 1, false, "changed my mind"); }).find("is not pending"), std::string::npos);
  auto all = list_proposals(img, "");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, "approved");
  EXPECT_EQ(all[0].reviewer, "human:ada");
  EXPECT_EQ(all[0].reason, "looks right");
  EXPECT_TRUE(list_proposals(img, "pending").empty());

  r = resume_thread(img, "t");  // the run applies it itself
  EXPECT_EQ(r.status, "done");
  EXPECT_EQ(json::parse(r.state_json)["version"], 1);
  EXPECT_EQ(list_proposals(img, "applied").size(), 1u);
  EXPECT_EQ(img.info().tools, 1);
}

// A tool the forge wrote for a missing function (scripted, fake model; code in bubblewrap):
// the reviewer sees its source, the tests it passed and how many attempts it took.
TEST(GovernanceApi, AForgedToolShowsItsTests) {
  if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
  test::TempDir d;
  std::filesystem::permissions(d.path, std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
  Image img = create_image((d / "a.a4ps").string());
  std::ofstream(d / "model.jsonl")
      << json{{"text", "```python\ndef slugify(arg1, sep):\n    return sep.join(arg1.lower().split())\n```"}}.dump() << "\n";
  json input = {{"code", "slugify('Hello World', sep='-')"}, {"model", "scripted:" + (d / "model.jsonl").string()},
                {"sandbox", "bwrap"}};
  auto r = run_thread(img, input.dump(), {.graph = "act", .thread = "t"});
  ASSERT_EQ(r.status, "interrupted") << r.state_json;
  ASSERT_EQ(r.waiting_for, std::vector<int64_t>{1});
  auto p = show_proposal(img, 1);
  EXPECT_EQ(p.info.target, "slugify");
  EXPECT_NE(p.after.find("def slugify(arg1, sep):"), std::string::npos) << p.after;
  EXPECT_EQ(p.tests, "assert callable(slugify)");
  EXPECT_TRUE(p.tests_passed);
  EXPECT_EQ(p.forge_attempts, 1);
  EXPECT_TRUE(p.codex_problems.empty());
  decide_proposal(img, 1, true, "reviewed");
  r = resume_thread(img, "t");
  EXPECT_EQ(r.status, "done");
  EXPECT_EQ(json::parse(r.state_json)["result"]["value"], "'hello-world'");
}

TEST(GovernanceApi, ApplyingARejectedProposalIsRefused) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  run_thread(img, json({{"name", "add"}, {"source", kAdd}}).dump(), {.graph = "propose-tool", .thread = "t"});
  std::string who = decide_proposal(img, 1, false, "not needed");
  EXPECT_EQ(who.rfind("human:", 0), 0u);  // the OS user by default
  EXPECT_NE(test::error_of([&] { apply_proposal(img, 1); }).find("is rejected, not approved"), std::string::npos);
  EXPECT_EQ(img.info().tools, 0);
}

TEST(GovernanceApi, BadInputIsOneClearLine) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  int64_t events = img.info().events;
  auto msg = test::error_of([&] { show_proposal(img, 9); });
  EXPECT_NE(msg.find("no proposal 9"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_NE(test::error_of([&] { decide_proposal(img, 9, true, "x"); }).find("no proposal 9"), std::string::npos);
  EXPECT_NE(test::error_of([&] { apply_proposal(img, 9); }).find("no proposal 9"), std::string::npos);
  EXPECT_NE(test::error_of([&] { list_proposals(img, "maybe"); }).find("no proposal status 'maybe'"), std::string::npos);
  EXPECT_NE(test::error_of([&] { propose_codex_amendment(img, "[[rules]]\nname = \"x\"\ncheck = \"kind ==\"\n", "why"); })
                .find("the proposed codex: rule 'x'"),
            std::string::npos);
  EXPECT_EQ(img.info().events, events);
  EXPECT_TRUE(list_proposals(img, "").empty());
}

TEST(GovernanceApi, TheCodexIsShownCheckedAndAmended) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  CodexInfo def = default_codex();
  EXPECT_FALSE(def.principles.empty());
  EXPECT_FALSE(def.rules.empty());
  EXPECT_TRUE(def.rules[0].builtin);
  EXPECT_EQ(image_codex(img).toml, def.toml);  // no codex of its own yet

  std::string mine = "[[principles]]\nname = \"care\"\ntext = \"be kind\"\n[[rules]]\nname = \"no-intruders\"\n"
                     "check = \"actor != \\\"intruder\\\"\"\nmessage = \"no intruders\"\n";
  CodexInfo c = check_codex(mine, "mine.toml");
  ASSERT_EQ(c.rules.size(), 1u);
  EXPECT_EQ(c.rules[0].name, "no-intruders");
  EXPECT_FALSE(c.rules[0].builtin);
  write_file(d / "mine.toml", mine);
  EXPECT_EQ(check_codex_file((d / "mine.toml").string()).principles.size(), 1u);
  EXPECT_NE(test::error_of([&] { check_codex("[[rules]]\nname = \"x\"\ncheck = \"seq >\"\n", "bad.toml"); }).find("bad.toml"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { check_codex_file((d / "absent.toml").string()); }), "");

  int64_t id = propose_codex_amendment(img, mine, "keep intruders out");
  auto p = show_proposal(img, id);
  EXPECT_EQ(p.info.kind, "codex.amend");
  EXPECT_EQ(p.why, "keep intruders out");
  EXPECT_FALSE(p.drops_builtin_rules.empty());  // it leaves out the built-in rules
  EXPECT_NE(p.summary.find("WARNING"), std::string::npos);
  decide_proposal(img, id, true, "agreed");
  EXPECT_EQ(apply_proposal(img, id), 1);
  EXPECT_EQ(image_codex(img).rules.size(), 1u);
  EXPECT_TRUE(codex_violations(img).empty());
}

TEST(GovernanceApi, TheCodexCheckOfAProposalNamesTheRuleItWouldBreak) {
  test::TempDir d;
  Image img = create_image((d / "a.a4ps").string());
  int64_t id = propose_codex_amendment(img, "[[rules]]\nname = \"no-new-tools\"\ncheck = \"kind != \\\"tool.version_added\\\"\"\n"
                                            "message = \"tools are frozen\"\n", "freeze");
  decide_proposal(img, id, true, "agreed");
  apply_proposal(img, id);
  run_thread(img, json({{"name", "add"}, {"source", kAdd}}).dump(), {.graph = "propose-tool", .thread = "t"});
  auto p = show_proposal(img, 2);
  ASSERT_EQ(p.codex_problems.size(), 1u);
  EXPECT_EQ(p.codex_problems[0], "no-new-tools: tools are frozen");
  decide_proposal(img, 2, true, "try anyway");
  EXPECT_NE(test::error_of([&] { apply_proposal(img, 2); }).find("no-new-tools"), std::string::npos);
  EXPECT_EQ(img.info().tools, 0);
  EXPECT_EQ(list_proposals(img, "approved").size(), 1u);  // still approved, not applied
}

TEST(GovernanceApi, ViolationsAreListed) {
  test::TempDir d;
  std::string path = (d / "a.a4ps").string();
  {
    Image img = create_image(path);
    std::string mine = "[[rules]]\nname = \"no-intruders\"\ncheck = \"actor != \\\"intruder\\\"\"\n";
    int64_t id = propose_codex_amendment(img, mine, "keep intruders out");
    decide_proposal(img, id, true, "agreed");
    apply_proposal(img, id);
  }
  {
    // An intruder's write cannot be made through the public API, so the test makes one
    // through the internal image, guarded as every write is.
    auto im = codex::open_guarded(path);
    EXPECT_NE(test::error_of([&] { im.append_event("memory.added", "intruder", {{"id", 1}}); }).find("no-intruders"),
              std::string::npos);
  }
  Image img = Image::open(path, {.read_only = true});
  auto v = codex_violations(img);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].event, "memory.added");
  EXPECT_EQ(v[0].actor, "intruder");
  EXPECT_NE(v[0].why.find("no-intruders"), std::string::npos);
  EXPECT_EQ(json::parse(v[0].refused_json)["actor"], "intruder");
}

}  // namespace
}  // namespace a4ps
