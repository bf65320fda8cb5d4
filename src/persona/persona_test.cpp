#include "persona/persona.h"

#include <gtest/gtest.h>

#include <fstream>

#include "codex/codex.h"
#include "governance/governance.h"
#include "graph/checkpoint.h"
#include "persona/agent.h"
#include "sandbox/fake_kernel.h"
#include "testutil.h"

namespace a4ps::persona {
namespace {

using test::error_of;

TEST(Persona, TheFourDefaultsParseAndRoundTrip) {
  auto specs = builtin_specs();
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].name, "ALFRED");
  EXPECT_TRUE(specs[0].can("route"));
  EXPECT_TRUE(specs[1].can("forge"));
  EXPECT_TRUE(specs[2].can("critique"));
  EXPECT_TRUE(specs[3].can("retrieve"));
  for (auto& s : specs) {
    Spec again = parse_spec(to_toml(s));
    EXPECT_EQ(again.name, s.name);
    EXPECT_EQ(again.system, s.system);
    EXPECT_EQ(again.actions, s.actions);
    EXPECT_FLOAT_EQ(again.sampling.temperature, s.sampling.temperature);
    EXPECT_EQ(again.max_tokens, s.max_tokens);
  }
}

TEST(Persona, BadSpecsSayWhatIsWrong) {
  EXPECT_NE(error_of([] { parse_spec("role = \"x\"\nsystem = \"y\""); }).find("needs 'name'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("name = \"A B\"\nrole = \"x\"\nsystem = \"y\""); }).find("letters, digits"), std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("name = \"P\"\nrole = \"x\"\nsystem = \"y\"\nactions = [\"fly\"]"); }).find("unknown action 'fly'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("name = \"P\"\nrole = \"x\"\nsystem = \"y\"\nmood = 1"); }).find("unknown field 'mood'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("name = \"P\"\nrole = \"x\"\nsystem = \"y\"\n[sampling]\ntemperature = 9"); }).find("between 0 and 5"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_spec("name = \"P\"\nrole = "); }).find("line 2"), std::string::npos);
}

TEST(Persona, AnImagePersonaReplacesTheDefaultOrJoinsThem) {
  test::TempDir d;
  auto img = image::Image::create(d / "p.a4ps");
  img.put(image::Kind::Persona, "ROBIN", "name = \"ROBIN\"\nrole = \"gentler critic\"\nsystem = \"Be gentle.\"\nactions = [\"critique\"]\n");
  img.put(image::Kind::Persona, "POET", "name = \"poet\"\nrole = \"verse\"\nsystem = \"Rhyme.\"\n");
  auto all = load_all(img);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[2].role, "gentler critic");
  EXPECT_FALSE(all[2].builtin);
  EXPECT_EQ(all[4].name, "POET");
  EXPECT_EQ(all[4].actions, std::vector<std::string>{"respond"});  // the default action
  EXPECT_TRUE(find(img, "poet").has_value());
  EXPECT_FALSE(find(img, "nobody").has_value());
}

TEST(Persona, ThePromptCarriesTheChosenPrinciples) {
  Spec s = parse_spec("name = \"P\"\nrole = \"x\"\nsystem = \"Base.\"\nprinciples = [\"care\"]");
  std::string p = system_prompt(s, codex::default_codex());
  EXPECT_EQ(p.rfind("Base.", 0), 0u);
  EXPECT_NE(p.find("- care: "), std::string::npos);
  EXPECT_EQ(p.find("- consent: "), std::string::npos);
  s.principles.clear();  // empty: all of them
  EXPECT_NE(system_prompt(s, codex::default_codex()).find("- consent: "), std::string::npos);
}

TEST(Persona, TheImagesParametersAreDefaultsForWhatTheSpecLeavesUnset) {
  Spec own = parse_spec("name = \"P\"\nrole = \"x\"\nsystem = \"s\"\n[sampling]\ntemperature = 0.2\n");
  Spec none = parse_spec("name = \"Q\"\nrole = \"x\"\nsystem = \"s\"\n");
  const std::string params = R"({"temperature": 0.9, "top_k": 40, "seed": 7, "stop": ["</a>"], "num_ctx": 4096})";
  auto a = sampling_for(own, params), b = sampling_for(none, params);
  EXPECT_FLOAT_EQ(a.temperature, 0.2f);  // the persona's own choice wins
  EXPECT_EQ(a.top_k, 40);
  EXPECT_EQ(a.seed, 7u);
  EXPECT_FLOAT_EQ(b.temperature, 0.9f);
  EXPECT_FLOAT_EQ(b.top_p, 1.0f);  // unset in both: the default
  EXPECT_FLOAT_EQ(sampling_for(none, "").temperature, none.sampling.temperature);
  EXPECT_FLOAT_EQ(sampling_for(none, R"({"temperature": "hot"})").temperature, none.sampling.temperature);
}

TEST(Persona, TheNewestApprovedAdapterForThePersonaAndItsBaseIsUsed) {
  test::TempDir d;
  auto img = image::Image::create(d / "a.a4ps");
  std::string gguf = "GGUF" + std::string(60, 'x');
  img.put(image::Kind::Adapter, "brick-v1", "", {{"base_sha256", "base1"}, {"persona", "BRICK"}}, gguf + "1");
  img.put(image::Kind::Adapter, "robin-v1", "", {{"base_sha256", "base1"}, {"persona", "ROBIN"}}, gguf + "2");
  img.put(image::Kind::Adapter, "brick-v2", "", {{"base_sha256", "base2"}, {"persona", "BRICK"}}, gguf + "3");
  Spec brick = builtin_specs()[1];
  EXPECT_EQ(adapter_for(img, brick)->name, "brick-v2");
  EXPECT_EQ(adapter_for(img, brick, "base1")->name, "brick-v1");  // only adapters made for this base
  EXPECT_FALSE(adapter_for(img, builtin_specs()[0]).has_value());
  brick.adapter = "none";
  EXPECT_FALSE(adapter_for(img, brick).has_value());
  brick.adapter = "missing";
  EXPECT_NE(error_of([&] { adapter_for(img, brick); }).find("does not hold"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::persona

// The agent's CodeAct and doesNotUnderstand, as library calls, on every machine: the
// model is scripted (a fake) and so is the sandbox (sandbox::FakeKernel), which also
// shows what the agent sent it.
namespace a4ps::persona {
namespace {

TEST(AgentWithFakes, AMissingFunctionIsForgedWaitsForAHumanAndRunsOnceApproved) {
  test::TempDir d;
  std::ofstream(d / "model.jsonl")
      << R"({"persona": "ALFRED", "match": "routing turn 1 ", "text": "{\"next\": \"BRICK\", \"brief\": \"count the jars\"}"})" "\n"
      << R"({"persona": "BRICK", "match": "count the jars", "text": "```python\nprint(total_items(120, 24))\n```"})" "\n"
      << R"({"persona": "BRICK", "match": "def total_items", "text": "```python\ndef total_items(arg1, arg2):\n    return arg1 * arg2\n```"})" "\n"
      << R"({"persona": "ROBIN", "text": "{\"verdict\": \"accept\", \"reasons\": \"right\"}"})" "\n"
      << R"({"persona": "ALFRED", "match": "routing turn 2 ", "text": "{\"next\": \"ANSWER\", \"brief\": \"done\"}"})" "\n"
      << R"({"persona": "ALFRED", "match": "Write the answer", "text": "2880 jars."})" "\n";
  auto img = image::Image::create(d / "a.a4ps");
  auto cp = graph::image_checkpointer(img);
  std::vector<sandbox::FakeKernel*> kernels;
  AgentOptions o{.kernel = sandbox::fake_kernel_factory(&kernels)};
  auto g = agent_graph(img, o).compile({.checkpointer = cp.get(), .name = kAgentGraph});
  const std::string model = "scripted:" + (d / "model.jsonl").string();
  auto r = g.invoke(task_input("How many jars?", model), {.thread_id = "t"});
  ASSERT_EQ(r.status, "interrupted");
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0]->codes().size() > 0, true);
  bool ran_brick = false;
  for (auto& c : kernels[0]->codes()) ran_brick |= c.find("print(total_items(120, 24))") != std::string::npos;
  EXPECT_TRUE(ran_brick);
  auto pending = img.proposals("pending");
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].kind, "tool.register");
  EXPECT_EQ(pending[0].target, "total_items");
  img.decide(pending[0].id, true, "tester", "reviewed");
  r = g.resume(nullptr, {.thread_id = "t"});
  ASSERT_EQ(r.status, "done") << r.state.dump();
  EXPECT_EQ(r.state.value("answer", ""), "2880 jars.");
  ASSERT_TRUE(img.get(image::Kind::Tool, "total_items"));
  std::string out;
  for (auto& t : r.state["transcript"])
    if (t.contains("result")) out += t["result"].value("stdout", "");
  EXPECT_NE(out.find("2880"), std::string::npos) << r.state["transcript"].dump();
}

// Roles come from the personas' data: an image that gives critique to a persona of its
// own (and takes it from ROBIN) has that persona review BRICK's work.
TEST(AgentWithFakes, TheCriticIsWhicheverPersonaCanCritique) {
  test::TempDir d;
  auto img = image::Image::create(d / "a.a4ps");
  Spec robin = *find(img, "ROBIN"), critic = robin;
  robin.actions = {"respond"};
  critic.name = "CRITIC";
  critic.actions = {"critique"};
  for (auto* sp : {&robin, &critic}) {
    int64_t id = propose_change(img, to_toml(*sp), "a new critic");
    img.decide(id, true, "tester", "ok");
    governance::apply(img, id);
  }
  std::ofstream(d / "model.jsonl")
      << R"({"persona": "ALFRED", "match": "routing turn 1 ", "text": "{\"next\": \"BRICK\", \"brief\": \"add\"}"})" "\n"
      << R"({"persona": "BRICK", "text": "```python\nprint(2 + 2)\n```"})" "\n"
      << R"({"persona": "CRITIC", "match": "BRICK's work", "text": "{\"verdict\": \"accept\", \"reasons\": \"four\"}"})" "\n"
      << R"({"persona": "ALFRED", "match": "routing turn 2 ", "text": "{\"next\": \"ANSWER\", \"brief\": \"done\"}"})" "\n"
      << R"({"persona": "ALFRED", "match": "Write the answer", "text": "4."})" "\n";
  auto cp = graph::image_checkpointer(img);
  auto g = agent_graph(img, {.kernel = sandbox::fake_kernel_factory()}).compile({.checkpointer = cp.get(), .name = kAgentGraph});
  auto r = g.invoke(task_input("2 + 2?", "scripted:" + (d / "model.jsonl").string()), {.thread_id = "t"});
  ASSERT_EQ(r.status, "done") << r.state.dump();
  std::vector<std::string> who;
  for (auto& t : r.state["transcript"]) who.push_back(t.value("persona", "") + ":" + t.value("kind", ""));
  EXPECT_EQ(who, (std::vector<std::string>{"ALFRED:route", "BRICK:act", "CRITIC:critique", "ALFRED:route", "ALFRED:answer"}));
}

}  // namespace
}  // namespace a4ps::persona
