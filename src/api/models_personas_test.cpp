// The public models, sandbox, personas and conversation-reading API on real files: a
// synthetic GGUF, the sandboxes of this machine, persona proposals, a stored conversation.
#include <gtest/gtest.h>

#include "a4ps/models.h"
#include "a4ps/personas.h"
#include "a4ps/sandbox.h"
#include "a4ps/session.h"
#include "a4ps/threads.h"
#include "api/api_test_util.h"
#include "local_server.h"

namespace a4ps::apitest {
namespace {

TEST(ModelsApi, InfoDirectoryAndGenerationOnASyntheticModel) {
  auto m = model_info(model("synthetic-llama-tiny.gguf").string());
  EXPECT_EQ(m.architecture, "llama");
  EXPECT_TRUE(m.synthetic);
  EXPECT_GT(m.parameters, 0u);
  EXPECT_GT(m.layers, 0u);
  EXPECT_FALSE(m.tensor_types.empty());

  test::TempDir d;
  fs::copy_file(model("synthetic-qwen2-tiny.gguf"), d / "q.gguf");
  std::ofstream(d / "broken.gguf") << "not a model";
  std::ofstream(d / "notes.txt") << "not listed";
  auto ls = local_models(d.path.string());
  ASSERT_EQ(ls.size(), 2u);
  std::sort(ls.begin(), ls.end(), [](auto& a, auto& b) { return a.path < b.path; });
  EXPECT_FALSE(ls[0].error.empty());  // broken.gguf: said, not thrown
  EXPECT_EQ(ls[1].info.architecture, "qwen2");
  EXPECT_TRUE(local_models((d / "none").string()).empty());

  auto g = generate_run(model("synthetic-llama-tiny.gguf").string(), "Hello", {.max_tokens = 4, .n_threads = 1});
  EXPECT_EQ(g.generated_tokens, 4);
  EXPECT_GT(g.prompt_tokens, 0);
  EXPECT_GT(g.tokens_per_s, 0);
}

TEST(ModelsApi, PullsFromAServerWithProgressAndVerifies) {
  const std::string bytes = a4ps::read_file(model("synthetic-llama-tiny.gguf"));
  test::LocalServer s;
  s.srv.Get("/m.gguf", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(bytes, "application/octet-stream");
  });
  s.start();
  test::TempDir d;
  uint64_t last = 0, total = 0;
  auto p = pull_model(s.url("/m.gguf"), {.sha256 = a4ps::sha256_hex(bytes), .dir = d.path.string(),
                                         .on_progress = [&](uint64_t done, uint64_t t) { last = done, total = t; }});
  EXPECT_TRUE(p.verified);
  EXPECT_EQ(p.bytes, bytes.size());
  EXPECT_EQ(last, bytes.size());
  EXPECT_EQ(total, bytes.size());
  EXPECT_EQ(model_info(p.path).architecture, "llama");
  ASSERT_EQ(local_models(d.path.string()).size(), 1u);

  test::TempDir d2;
  EXPECT_NE(error_of([&] { pull_model(s.url("/m.gguf"), {.sha256 = std::string(64, '0'), .dir = d2.path.string()}); }), "");
  EXPECT_TRUE(fs::is_empty(d2.path));  // a wrong checksum leaves nothing behind
}

TEST(ModelsApi, BadInputIsOneLine) {
  EXPECT_NE(error_of([] { model_info("/nonexistent/x.gguf"); }).find("x.gguf"), std::string::npos);
  test::TempDir d;
  EXPECT_NE(error_of([&] { pull_model("ftp://example.invalid/x.gguf", {.dir = d.path.string()}); }), "");
  EXPECT_TRUE(fs::is_empty(d.path));  // nothing half-downloaded
}

TEST(SandboxApi, ChecksEachProviderAndRunsTheSuiteAgainstTheOnesThatWork) {
  auto rep = check_sandboxes();
  ASSERT_EQ(rep.checks.size(), 3u);
  EXPECT_EQ(rep.checks[0].provider, "gvisor");
  EXPECT_EQ(rep.checks[1].provider, "bwrap");
  EXPECT_EQ(rep.checks[2].provider, "none");
  std::string first;
  for (auto& c : rep.checks)
    if (c.works && c.provider != "none" && first.empty()) first = c.provider;
  EXPECT_EQ(rep.chosen, first);
  if (first.empty()) GTEST_SKIP() << "no sandbox works here";

  ASSERT_FALSE(containment_case_list().empty());
  const std::string one = containment_case_list()[0].name;
  std::vector<std::string> attacked;
  int results = 0;
  auto sec = run_security_suite({.only = one, .on_provider = [&](const std::string& p, size_t) { attacked.push_back(p); },
                                 .on_result = [&](const std::string&, const ContainmentOutcome&) { ++results; }});
  ASSERT_EQ(sec.providers.size(), 3u);
  EXPECT_EQ(sec.providers[2].skipped, "not run: no isolation, the attacks would hit this machine");
  EXPECT_TRUE(sec.providers[2].results.empty());
  for (auto& p : sec.providers) {
    if (!p.check.works || p.check.provider == "none") continue;
    ASSERT_EQ(p.results.size(), 1u) << p.check.provider;
    EXPECT_EQ(p.results[0].name, one);
    EXPECT_TRUE(p.results[0].verdict == "contained" || p.results[0].verdict == "n/a") << p.results[0].detail;
  }
  EXPECT_EQ(results, static_cast<int>(attacked.size()));
  EXPECT_TRUE(sec.contained());
}

TEST(PersonasApi, ListFindAndProposeANewOne) {
  ASSERT_EQ(builtin_personas().size(), 4u);
  EXPECT_EQ(builtin_personas()[0].name, "ALFRED");
  test::TempDir d;
  Image img = Image::open((d / "a.a4ps").string());
  auto brick = find_persona(img, "brick");
  ASSERT_TRUE(brick);
  EXPECT_EQ(brick->name, "BRICK");
  EXPECT_TRUE(brick->builtin);
  EXPECT_NE(brick->toml.find("name = 'BRICK'"), std::string::npos) << brick->toml;
  EXPECT_FALSE(find_persona(img, "nobody"));
  std::string sys = persona_system_prompt(img, "brick");
  EXPECT_NE(sys.find("BRICK"), std::string::npos) << sys;
  EXPECT_NE(error_of([&] { persona_system_prompt(img, "nobody"); }).find("no persona 'nobody'"), std::string::npos);

  const int64_t events = img.info().events;
  EXPECT_NE(error_of([&] { propose_persona(img, "name = \"POET\"\nrole = \"verse\"\n", "x"); }).find("needs 'system'"),
            std::string::npos);
  EXPECT_EQ(img.info().events, events);  // nothing half-filed
  int64_t id = propose_persona(img, "name = \"POET\"\nrole = \"writes verse\"\nsystem = \"You are POET.\"\n"
                                    "actions = [\"respond\"]\ncolour = \"yellow\"\n", "we like verse");
  EXPECT_EQ(list_personas(img).size(), 4u);  // not before a human's yes
  Session(img, {.model = "scripted:" + (d / "unused.jsonl").string()}).decide(id, true, "tester", "ok");
  auto all = list_personas(img);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[4].name, "POET");
  EXPECT_EQ(all[4].colour, "yellow");
  EXPECT_EQ(all[4].version, 1);
  EXPECT_FALSE(all[4].builtin);
}

TEST(ConversationApi, StateStepsForkAndTranscripts) {
  test::TempDir d;
  fs::path path = d / "a.a4ps";
  Image::open(path.string());
  add_thread(path, "c1", "Tell me about owls.", "Owls hunt at night.");
  Image img = Image::open(path.string());
  Session s(img, {.model = script(d / "unused.jsonl", {})});
  EXPECT_EQ(s.state_json("none"), "");
  json st = json::parse(s.state_json("c1"));
  EXPECT_EQ(st["task"], "Tell me about owls.");
  EXPECT_FALSE(st["transcript"][0].contains("prompt"));  // the prompts stay in the image
  auto h = s.history("c1");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].step, 3);
  EXPECT_EQ(h[0].source, "loop");
  EXPECT_FALSE(s.fork("none", "c3"));
  EXPECT_TRUE(s.fork("c1", "c2"));
  EXPECT_EQ(json::parse(s.state_json("c2"))["answer"], "Owls hunt at night.");

  EXPECT_NE(thread_transcript(img, "c1").find("Owls hunt at night."), std::string::npos);
  EXPECT_EQ(json::parse(thread_transcript_json(img, "c1")).size(), 2u);
  EXPECT_TRUE(json::parse(thread_transcript_json(img, "c1", true))[1].contains("prompt"));
  EXPECT_NE(error_of([&] { thread_transcript(img, "nope"); }).find("no thread 'nope'"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::apitest
