// The public tools API on a real image and a real sandbox (bubblewrap), with the scripted
// model writing the tools: forge, versions, diff, doesNotUnderstand, rollback.
#include <gtest/gtest.h>

#include "a4ps/session.h"
#include "a4ps/tools.h"
#include "api/api_test_util.h"

namespace a4ps::apitest {
namespace {

const std::string kPlain = "```python\ndef slugify(arg1, sep):\n    return sep.join(arg1.lower().split())\n```";
const std::string kReversed = "```python\ndef slugify(arg1, sep):\n    return sep.join(reversed(arg1.lower().split()))\n```";

class ToolsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // the sandbox user reaches the workspace
  }
  // Approves and applies a proposal, as a person would.
  void approve(Image& img, int64_t id) {
    Session s(img, {.model = script(d / "unused.jsonl", {})});
    EXPECT_TRUE(s.decide(id, true, "tester", "reviewed").applied_now);
  }
  test::TempDir d;
};

TEST_F(ToolsApi, ForgeProposesAndEveryVersionStaysReadable) {
  Image img = Image::open((d / "a.a4ps").string());
  std::vector<bool> seen;
  ToolRequest q{"slugify", {"arg1", "sep"}, "the words, reversed", "assert slugify('a b', '-') == 'b-a'\n"};
  auto f = forge_tool(img, q, {.model = script(d / "m1.jsonl", {kPlain, kReversed}), .sandbox = "bwrap",
                               .on_attempt = [&](const ForgeAttempt& a) { seen.push_back(a.passed); }});
  ASSERT_TRUE(f.ok);
  EXPECT_EQ(seen, (std::vector<bool>{false, true}));  // the first failed its test, the model fixed it
  EXPECT_NE(f.attempts[0].error.find("AssertionError"), std::string::npos) << f.attempts[0].error;
  EXPECT_TRUE(list_tools(img).empty());  // proposed is not registered
  approve(img, f.proposal);
  ASSERT_EQ(list_tools(img).size(), 1u);
  EXPECT_EQ(list_tools(img)[0].version, 1);
  EXPECT_FALSE(list_tools(img)[0].created_at.empty());

  q.tests = "assert slugify('A b', '-') == 'a-b'\n";
  auto f2 = forge_tool(img, q, {.model = script(d / "m2.jsonl", {kPlain}), .sandbox = "bwrap"});
  ASSERT_TRUE(f2.ok);
  approve(img, f2.proposal);
  EXPECT_EQ(list_tools(img).size(), 1u);                           // newest versions
  EXPECT_EQ(list_tools(img, {.all_versions = true}).size(), 2u);   // and all of them
  EXPECT_EQ(tool_version(img, "slugify").version, 2);
  EXPECT_NE(tool_version(img, "slugify", 1).source.find("reversed"), std::string::npos);
  std::string diff = diff_tool(img, "slugify", 1, 2);
  EXPECT_NE(diff.find("-    return sep.join(reversed(arg1.lower().split()))"), std::string::npos) << diff;
  EXPECT_EQ(diff_tool(img, "slugify", 2, 2), "");

  int64_t back = propose_tool_rollback(img, "slugify", 1);
  approve(img, back);
  EXPECT_EQ(tool_version(img, "slugify").version, 3);
  EXPECT_EQ(tool_version(img, "slugify").source, tool_version(img, "slugify", 1).source);
  std::string problem;
  EXPECT_TRUE(img.check(&problem)) << problem;
}

TEST_F(ToolsApi, AMissingFunctionIsNamedAndWithAModelForged) {
  Image img = Image::open((d / "a.a4ps").string());
  auto r = run_agent_code(img, "print('start')\nshout('hi')", {.sandbox = "bwrap"});
  EXPECT_FALSE(r.code.ok);
  EXPECT_EQ(r.code.output, "start\n");
  EXPECT_EQ(r.code.error_type, "NameError");
  EXPECT_EQ(r.missing, "shout");
  EXPECT_FALSE(r.forged);

  std::string m = script(d / "m.jsonl", {"```python\ndef shout(arg1):\n    return arg1.upper() + '!'\n```"});
  r = run_agent_code(img, "shout('hi')", {.model = m, .sandbox = "bwrap"});
  ASSERT_TRUE(r.forged);
  ASSERT_TRUE(r.forge.ok);
  approve(img, r.forge.proposal);
  r = run_agent_code(img, "shout('hi')", {.sandbox = "bwrap"});
  EXPECT_TRUE(r.code.ok) << r.code.error;
  EXPECT_EQ(r.code.value, "'HI!'");
  EXPECT_TRUE(r.missing.empty());
}

TEST_F(ToolsApi, BadInputIsOneLineAndFilesNothing) {
  Image img = Image::open((d / "a.a4ps").string());
  const int64_t events = img.info().events;
  EXPECT_NE(error_of([&] { tool_version(img, "nope"); }).find("no tool 'nope'"), std::string::npos);
  EXPECT_NE(error_of([&] { diff_tool(img, "nope", 1, 2); }).find("has no version 1"), std::string::npos);
  EXPECT_NE(error_of([&] { propose_tool_rollback(img, "nope", 1); }).find("see `a4ps tool ls`"), std::string::npos);
  EXPECT_NE(error_of([&] { forge_tool(img, {"f", {}, "x", "assert f()"}, {}); }).find("needs a model"), std::string::npos);
  EXPECT_NE(error_of([&] { run_agent_code(img, "1", {.sandbox = "none"}); }).find("no isolation"), std::string::npos);
  EXPECT_EQ(img.info().events, events);
  Image ro = Image::open((d / "a.a4ps").string(), {.read_only = true});
  EXPECT_NE(error_of([&] { propose_tool_rollback(ro, "slugify", 1); }).find("read-only"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::apitest
