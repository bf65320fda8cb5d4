#include "persona/persona.h"

#include <gtest/gtest.h>

#include <fstream>

#include "codex/codex.h"
#include "governance/governance.h"
#include "graph/checkpoint.h"
#include "persona/agent.h"
#include "persona/state.h"
#include "persona/turn.h"
#include "sandbox/fake_kernel.h"
#include "testutil.h"
#include "vars_env.h"

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

// The typed state reads what the agent graph stored and writes the same keys back: old
// threads resume, and every checkpoint keeps its shape.
namespace a4ps::persona {
namespace {

using json = nlohmann::json;

// Turns as the agent graph of earlier builds wrote them, one of each shape.
const json kTurns = json::parse(R"j([
  {"persona": "ALFRED", "kind": "route", "content": "{\"next\": \"BRICK\", \"brief\": \"go\"}", "task": 0,
   "prompt": [{"role": "system", "content": "You are ALFRED"}, {"role": "user", "content": "Task: x"}],
   "tokens": 12, "adapter": "", "route": {"next": "BRICK", "brief": "go", "parsed": true}},
  {"persona": "BRICK", "kind": "act", "content": "```python\nprint(f(1))\n```", "task": 0, "prompt": [], "tokens": 9,
   "adapter": "brick-lora v2",
   "result": {"ok": false, "stdout": "", "value": "", "error_type": "NameError", "error": "name 'f' is not defined"},
   "forged": {"name": "f", "ok": true, "attempts": 2, "proposal": 7}},
  {"persona": "ALFRED", "kind": "approval", "task": 0, "content": "the human approved proposal 7"},
  {"persona": "BRICK", "kind": "rerun", "task": 0, "content": "ran my code again with the new tool",
   "result": {"ok": true, "stdout": "2\n", "value": "None", "error_type": "", "error": ""}},
  {"persona": "ROBIN", "kind": "critique", "content": "{}", "task": 0, "prompt": [], "tokens": 3, "adapter": "",
   "critique": {"verdict": "revise", "reasons": "say why", "parsed": true}},
  {"persona": "BABS", "kind": "retrieve", "content": "it says [a]", "task": 1, "prompt": [], "tokens": 4, "adapter": "",
   "hits": [{"id": 3, "source": "a", "score": 0.5, "text": "passage"}]}
])j");

TEST(AgentState, TurnsOfEarlierBuildsReadAndWriteBackUnchanged) {
  for (auto& t : kTurns) EXPECT_EQ(to_json(turn_from_json(t)), t) << t.dump();
  Turn brick = turn_from_json(kTurns[1]);
  ASSERT_TRUE(brick.result && brick.forged);
  EXPECT_EQ(brick.result->error_type, "NameError");
  EXPECT_EQ(brick.forged->proposal, 7);
  EXPECT_EQ(turn_from_json(kTurns[4]).critique->verdict, Verdict::Revise);
  EXPECT_FALSE(turn_from_json(kTurns[2]).prompt);  // the graph's own turns have no prompt
}

TEST(AgentState, AStateReadsWithItsWorkingPartsAndHistory) {
  json st = new_task("what?", "scripted:x");
  EXPECT_EQ(st, json::parse(R"({"task": "what?", "turns": 0, "rounds": 0, "route": null, "draft": null, "critique": null,
                                "notes": null, "proposal": null, "decision": null, "answer": null, "model": "scripted:x"})"));
  st["transcript"] = kTurns;
  st["history"] = json::parse(R"([{"task": "first", "answer": "one"}])");
  st["draft"] = json::parse(R"j({"text": "t", "code": "print(1)", "result": {"ok": true, "stdout": "1\n", "value": "",
                                 "error_type": "", "error": ""}})j");
  st["critique"] = json::parse(R"({"verdict": "revise", "reasons": "r", "parsed": true, "back_to_brick": true})");
  st["proposal"] = 7;
  st["decision"] = "approved";
  AgentState s = state_from_json(st);
  EXPECT_EQ(s.task, "what?");
  EXPECT_EQ(s.model, "scripted:x");
  EXPECT_EQ(s.task_no(), 1);
  EXPECT_EQ(s.transcript.size(), kTurns.size());
  ASSERT_TRUE(s.draft && s.draft->result);
  EXPECT_EQ(s.draft->result->stdout_text, "1\n");
  EXPECT_TRUE(s.critique->back_to_brick);
  EXPECT_EQ(s.proposal, 7);
  EXPECT_EQ(s.decision, Decision::Approved);
  EXPECT_FALSE(s.answer);
  // What a node writes back: the same keys (the critique keeps back_to_brick in the state only).
  json u = Update().draft(*s.draft).critique(*s.critique).proposal(std::nullopt).turn(s.transcript[4]).as_json();
  EXPECT_EQ(u["draft"], st["draft"]);
  EXPECT_EQ(u["critique"], st["critique"]);
  EXPECT_TRUE(u["proposal"].is_null());
  EXPECT_EQ(u["transcript"], json::array({kTurns[4]}));
  EXPECT_FALSE(u["transcript"][0]["critique"].contains("back_to_brick"));
}

TEST(AgentState, OneRendererShowsATurnAsAPromptLineMarkdownAndASummary) {
  Turn route = turn_from_json(kTurns[0]), brick = turn_from_json(kTurns[1]), babs = turn_from_json(kTurns[5]);
  EXPECT_EQ(turn_line(brick, 5), "- BRICK (act): ```py…\n");
  EXPECT_EQ(turn_line(kTurns[1], 5), turn_line(brick, 5));
  EXPECT_EQ(render_turn(route, {.format = TurnFormat::Markdown}), "\n**ALFRED** (route) → BRICK: go\n");
  EXPECT_EQ(render_turn(brick, {.format = TurnFormat::Summary}),
            "BRICK: ```python\nprint(f(1))\n```\n  [sandbox] failed: NameError: name 'f' is not defined\n"
            "  [forge] wrote tool f in 2 attempt(s); proposal 7 waits for a human");
  EXPECT_EQ(render_turn(babs, {.format = TurnFormat::Summary}), "BABS: it says [a]\n  [memory] 1 passage(s) found");
  json st = {{"task", "second"}, {"transcript", kTurns}, {"history", json::parse(R"([{"task": "first", "answer": "one"}])")},
             {"answer", "done"}};
  std::string md = transcript_markdown(st, "t1", true);
  EXPECT_NE(md.find("## Task 1: first\n"), std::string::npos) << md;
  EXPECT_NE(md.find("## Task 2: second\n"), std::string::npos) << md;
  EXPECT_NE(md.find("**ROBIN** (critique): revise — say why\n"), std::string::npos) << md;
  EXPECT_NE(md.find("> sandbox: 2\n"), std::string::npos) << md;
  EXPECT_NE(md.find("<details><summary>system</summary>\n\n```\nYou are ALFRED\n```"), std::string::npos) << md;
  EXPECT_NE(md.find("## Answer\n\ndone\n"), std::string::npos) << md;
}

}  // namespace
}  // namespace a4ps::persona

namespace a4ps::persona {
namespace {

// The run's model comes from the flag, else A4PS_MODEL as the image's Env reports it.
TEST(Persona, TheModelVariableIsReadThroughTheImagesEnv) {
  test::TempDir d;
  test::VarsEnv env({{"A4PS_MODEL", "scripted:from-the-env"}});
  { image::Image::create(d / "a.a4ps"); }
  auto img = image::Image::open(d / "a.a4ps", {.env = &env});
  EXPECT_EQ(choose_model(img, ""), "scripted:from-the-env");
  EXPECT_EQ(choose_model(img, "flag.gguf"), "flag.gguf");
  test::VarsEnv none({});
  auto plain = image::Image::open(d / "a.a4ps", {.env = &none});
  EXPECT_EQ(choose_model(plain, ""), "");  // no variable, no setting, no base model
}

}  // namespace
}  // namespace a4ps::persona
