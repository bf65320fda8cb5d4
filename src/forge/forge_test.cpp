#include "forge/forge.h"
#include "sandbox/fake_kernel.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testutil.h"

namespace a4ps::forge {
namespace {

namespace fs = std::filesystem;

// The forge runs its checks and tests in bubblewrap here (the quicker sandbox to start);
// where bubblewrap does not work, in the FakeKernel, so the forge's logic is tested on
// every machine (the sandbox itself has its own tests).
class Forge : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);
    try {
      k = sandbox::Kernel::start({.provider = sandbox::Provider::Bwrap, .workspace = d / "work"});
      if (!k->run("1").ok) throw Error("bubblewrap does not work here");
    } catch (const Error& e) {
      std::fprintf(stderr, "forge_test: %s; using the fake kernel\n", e.what());
      k = std::make_unique<sandbox::FakeKernel>(d / "work");
    }
    img = std::make_unique<image::Image>(image::Image::create(d / "a.a4ps"));
  }
  // A scripted model answering with these texts in turn (a fake: no model runs).
  std::unique_ptr<llm::Backend> model(const std::vector<std::string>& answers) {
    std::ofstream f(d / "script.jsonl");
    for (auto& a : answers) f << nlohmann::json{{"text", a}}.dump() << "\n";
    f.close();
    return llm::scripted_backend(d / "script.jsonl");
  }
  test::TempDir d;
  std::unique_ptr<sandbox::Kernel> k;
  std::unique_ptr<image::Image> img;
};

const ToolSpec kSlug{"slugify", {"text"}, "lower-case words joined by '-'",
                     "assert slugify('Hello World') == 'hello-world'\nassert slugify('  A  b ') == 'a-b'"};

TEST(ExtractCode, TakesThePythonBlockOrTheWholeText) {
  EXPECT_EQ(extract_code("Here:\n```python\ndef f():\n    return 1\n```\nDone."), "def f():\n    return 1\n");
  EXPECT_EQ(extract_code("def f(): pass"), "def f(): pass");
}

TEST_F(Forge, TheAstCheckRefusesWhatToolsMayNotDo) {
  EXPECT_TRUE(check_source(*k, kSlug, "def slugify(text):\n    return text\n").empty());
  auto p = check_source(*k, kSlug, "import os\ndef slugify(text):\n    return eval(text).__class__\n");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "import of 'os' is not allowed (line 1)");
  EXPECT_EQ(check_source(*k, kSlug, "def slug(text):\n    pass\n").at(0), "the function is named 'slug', expected 'slugify'");
  EXPECT_EQ(check_source(*k, kSlug, "def slugify(a, b):\n    pass\n").at(0), "the parameters are ['a', 'b'], expected ['text']");
  EXPECT_EQ(check_source(*k, kSlug, "def slugify(text:\n").at(0).rfind("syntax error at line 1", 0), 0u);
}

TEST_F(Forge, LearnsFromTheFailingTestAndProposesTheFixedTool) {
  auto m = model({"```python\ndef slugify(text):\n    return text.lower().replace(' ', '-')\n```",
                  "```python\ndef slugify(text):\n    return '-'.join(text.lower().split())\n```"});
  ForgeResult r = forge(kSlug, *m, *k, *img);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_NE(r.attempts[0].error.find("AssertionError"), std::string::npos) << r.attempts[0].error;
  EXPECT_EQ(r.source, "def slugify(text):\n    return '-'.join(text.lower().split())\n");
  // Proposed, not registered: a human decides.
  EXPECT_FALSE(img->get(image::Kind::Tool, "slugify"));
  auto props = img->proposals("pending");
  ASSERT_EQ(props.size(), 1u);
  EXPECT_EQ(props[0].kind, "tool.register");
  EXPECT_EQ(props[0].payload["after"], r.source);
}

// The logic around the sandbox, on every machine: a test run that the sandbox cuts short
// (a timeout) is a failed attempt the model is shown, not a crash of the forge.
TEST(ForgeWithAFakeKernel, ATimedOutTestRunIsAFailedAttemptAndTheForgeGoesOn) {
  test::TempDir d;
  sandbox::FakeKernel k(d / "work");
  k.fail_run(1, sandbox::FakeKernel::timeout());  // run 0 is the first ast check, run 1 its tests
  std::ofstream(d / "script.jsonl") << nlohmann::json{{"text", "```python\ndef slugify(text):\n    return '-'.join(text.lower().split())\n```"}}.dump()
                                    << "\n"
                                    << nlohmann::json{{"text", "```python\ndef slugify(text):\n    return '-'.join(text.lower().split())\n```"}}.dump()
                                    << "\n";
  auto m = llm::scripted_backend(d / "script.jsonl");
  auto img = image::Image::create(d / "a.a4ps");
  ForgeResult r = forge(kSlug, *m, k, img);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_NE(r.attempts[0].error.find("wall-time"), std::string::npos) << r.attempts[0].error;
  EXPECT_TRUE(r.attempts[1].passed);
  ASSERT_EQ(k.codes().size(), 4u);  // check, test; check, test
  EXPECT_NE(k.codes()[1].find("assert slugify('Hello World') == 'hello-world'"), std::string::npos);
  EXPECT_EQ(img.proposals("pending").size(), 1u);
}

TEST_F(Forge, FailsTwiceThenPasses) {
  auto m = model({"```python\ndef slugify(text)\n    return text\n```",                                   // syntax error
                  "```python\ndef slugify(text):\n    return text.lower()\n```",                          // fails a test
                  "```python\ndef slugify(text):\n    return '-'.join(text.lower().split())\n```"});  // passes
  ForgeResult r = forge(kSlug, *m, *k, *img);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[0].problems.at(0).rfind("syntax error at line 1", 0), 0u);
  EXPECT_NE(r.attempts[1].error.find("AssertionError"), std::string::npos);
  EXPECT_TRUE(r.attempts[2].passed);
  EXPECT_FALSE(img->get(image::Kind::Tool, "slugify"));  // no registration without approval
}

TEST_F(Forge, GivesUpAfterItsAttemptsWithoutProposingAnything) {
  auto m = model({"import os\ndef slugify(text): return text", "def slugify(text): return 1", "nonsense(", "def x(): pass"});
  ForgeResult r = forge(kSlug, *m, *k, *img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts.size(), 4u);
  EXPECT_FALSE(r.attempts[0].problems.empty());
  EXPECT_TRUE(img->proposals().empty());
}

TEST_F(Forge, TransformsSourceWithAst) {
  std::string fn = transform(*k, "promote", {{"snippet", "x = a * 2\nx + b"}, {"name", "double_plus"}, {"params", {"a", "b"}}});
  EXPECT_EQ(fn, "def double_plus(a, b):\n    x = a * 2\n    return x + b\n");
  std::string doc = transform(*k, "document", {{"source", fn}, {"doc", "Twice a, plus b."},
                                               {"hints", {{"a", "int"}, {"b", "int"}, {"return", "int"}}}});
  EXPECT_EQ(doc, "def double_plus(a: int, b: int) -> int:\n    \"\"\"Twice a, plus b.\"\"\"\n    x = a * 2\n    return x + b\n");
  EXPECT_EQ(transform(*k, "rename", {{"source", doc}, {"old", "double_plus"}, {"new", "dp"}}).substr(0, 7), "def dp(");
  EXPECT_TRUE(check_source(*k, {"double_plus", {"a", "b"}, "", ""}, doc).empty());
  EXPECT_NE(test::error_of([&] { transform(*k, "rename", {{"source", doc}, {"old", "nope"}, {"new", "x"}}); })
                .find("rename failed: ValueError"),
            std::string::npos);
}

TEST_F(Forge, AgentCodeReadsTheImageThroughReflectionOnly) {
  img->add_memory("the owl hunts at night", "notes.md");
  int64_t p = img->propose("tool.register", "shout", {{"after", "def shout(s):\n    return s.upper()\n"}});
  img->decide(p, true, "test", "ok");
  img->apply(p, [&](const image::Proposal& x) { img->put(image::Kind::Tool, "shout", x.payload["after"].get<std::string>()); });
  serve_reflection(*k, *img);
  auto r = k->run("import a4ps_reflect as r\n(r.list_tools(), r.tool_source('shout'), r.search_memory('owl')[0]['text'])");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value, "([{'name': 'shout', 'version': 1}], 'def shout(s):\\n    return s.upper()\\n', 'the owl hunts at night')");
  auto w = k->run("import a4ps_reflect as r\nr.ask('put_tool')" );
  EXPECT_FALSE(w.ok);  // there is no way to write
  auto u = k->run("import a4ps_reflect as r\nr.tool_source('nope')");
  EXPECT_EQ(u.error_type, "LookupError");
  EXPECT_NE(u.error.find("no tool named 'nope'"), std::string::npos);
}

TEST_F(Forge, DoesNotUnderstandTurnsAMissingFunctionIntoASpec) {
  const std::string code = "title = 'Hello World'\nurl = '/posts/' + slugify(title, sep='-')\nurl";
  sandbox::Result fail = k->run(code);
  ASSERT_EQ(fail.error_type, "NameError");
  ToolSpec s = spec_from_name_error(*k, code, fail);
  EXPECT_EQ(s.name, "slugify");
  EXPECT_EQ(s.params, (std::vector<std::string>{"arg1", "sep"}));
  EXPECT_NE(s.doc.find("line 2"), std::string::npos) << s.doc;
  sandbox::Result other = k->run("1/0");
  EXPECT_TRUE(spec_from_name_error(*k, "1/0", other).name.empty());
}

}  // namespace
}  // namespace a4ps::forge
