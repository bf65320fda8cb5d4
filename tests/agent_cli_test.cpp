// The agent end to end, through the CLI as a user runs it: routing, the Socratic loop,
// doesNotUnderstand across processes, memory feeding an answer (scripted fake model), and
// a full run on embedded llama.cpp with a synthetic GGUF.
#include <gtest/gtest.h>

#include <fstream>

#include "testutil.h"

namespace a4ps::test {
namespace {

using nlohmann::json;

struct Agent : ::testing::Test {
  TempDir d;
  fs::path img = d / "agent.a4ps";
  void SetUp() override {
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);  // bwrap's nobody user
  }
  // A scripted (fake) model: one reply per line, taken in order per persona.
  std::string script(const std::vector<json>& lines, const std::string& name = "script.jsonl") {
    std::ofstream o(d / name);
    for (auto& l : lines) o << l.dump() << "\n";
    return "scripted:" + (d / name).string();
  }
  static json route(const std::string& turn, const std::string& next, const std::string& brief = "go") {
    return {{"persona", "ALFRED"}, {"match", "routing turn " + turn + " "}, {"text", json{{"next", next}, {"brief", brief}}.dump()}};
  }
  static json critique(const std::string& verdict, const std::string& reasons) {
    return {{"persona", "ROBIN"}, {"text", json{{"verdict", verdict}, {"reasons", reasons}}.dump()}};
  }
  static json say(const std::string& persona, const std::string& text, const std::string& match = "") {
    json j = {{"persona", persona}, {"text", text}};
    if (!match.empty()) j["match"] = match;
    return j;
  }
  json run(const std::string& args) { return a4ps_json("run -i " + q(img) + " " + args); }
  static RunResult run_env(const std::string& env, const std::string& args) {
    return a4ps::test::run("env " + env + " " + std::string(A4PS_BIN) + " " + args);
  }
  static std::vector<std::string> kinds(const json& r) {
    std::vector<std::string> k;
    for (auto& t : r["transcript"]) k.push_back(t["persona"].get<std::string>() + ":" + t["kind"].get<std::string>());
    return k;
  }
};

TEST_F(Agent, AlfredRoutesAndAnswers) {
  auto m = script({route("1", "BRICK", "work out 6*7"), say("BRICK", "```python\nprint(6*7)\n```"),
                   critique("accept", "correct and plain"), route("2", "ANSWER"),
                   say("ALFRED", "Forty-two.", "Write the answer")});
  json r = run(q("what is 6*7?") + " -m " + q(m));
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(r["answer"], "Forty-two.");
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"ALFRED:route", "BRICK:act", "ROBIN:critique", "ALFRED:route", "ALFRED:answer"}));
  EXPECT_EQ(r["transcript"][1]["result"]["stdout"], "42\n");  // BRICK's code really ran in the sandbox
  EXPECT_TRUE(r["transcript"][0]["route"]["parsed"].get<bool>());

  // The whole conversation is in the image, with the prompts each persona saw.
  json t = a4ps_json("thread show " + q(img) + " " + r["thread"].get<std::string>());
  EXPECT_EQ(t["status"], "done");
  auto& tr = t["latest"]["state"]["transcript"];
  ASSERT_EQ(tr.size(), 5u);
  EXPECT_NE(tr[1]["prompt"][0]["content"].get<std::string>().find("You are BRICK"), std::string::npos);
  EXPECT_NE(tr[1]["prompt"][1]["content"].get<std::string>().find("work out 6*7"), std::string::npos);  // ALFRED's brief reached BRICK

  auto md = a4ps("thread transcript " + q(img) + " " + r["thread"].get<std::string>());
  ASSERT_EQ(md.code, 0) << md.err;
  EXPECT_NE(md.out.find("**ALFRED** (route) → BRICK: work out 6*7"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("> sandbox: 42"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("## Answer\n\nForty-two."), std::string::npos) << md.out;
}

TEST_F(Agent, RobinSendsBrickBackTwiceThenTheLoopCloses) {
  auto m = script({route("1", "BRICK"), say("BRICK", "draft one"), critique("revise", "show the units"),
                   say("BRICK", "draft two", "show the units"), critique("revise", "too long"),
                   say("BRICK", "draft three", "too long"), critique("revise", "still not right"),
                   route("2", "ANSWER"), say("ALFRED", "Here it is: draft three.", "draft three")});
  json r = run(q("describe the speed of light") + " -m " + q(m) + " --max-rounds 2");
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"ALFRED:route", "BRICK:act", "ROBIN:critique", "BRICK:act", "ROBIN:critique",
                                                "BRICK:act", "ROBIN:critique", "ALFRED:route", "ALFRED:answer"}));
  // Each revision saw ROBIN's reasons and its own previous draft.
  EXPECT_EQ(r["answer"], "Here it is: draft three.");
  json t = a4ps_json("thread show " + q(img) + " " + r["thread"].get<std::string>());
  auto& tr = t["latest"]["state"]["transcript"];
  std::string second = tr[3]["prompt"][1]["content"];
  EXPECT_NE(second.find("draft one"), std::string::npos);
  EXPECT_NE(second.find("show the units"), std::string::npos);
  EXPECT_EQ(t["latest"]["state"]["rounds"], 2);  // the third "revise" did not reopen the loop
}

TEST_F(Agent, AMissingFunctionIsForgedApprovedInAnotherProcessAndTheRunCompletes) {
  auto m = script({route("1", "BRICK", "convert 100 C"),
                   say("BRICK", "I will use a converter.\n```python\nprint(celsius_to_fahrenheit(100))\n```"),
                   say("BRICK", "```python\ndef celsius_to_fahrenheit(arg1):\n    return arg1 * 9 / 5 + 32\n```", "def celsius_to_fahrenheit"),
                   critique("accept", "right"), route("2", "ANSWER"),
                   say("ALFRED", "100 C is 212 F.", "212")});
  // Process 1: BRICK calls a function nobody wrote; the forge writes it; the run stops for a human.
  json r1 = run(q("what is 100 C in F?") + " -m " + q(m));
  ASSERT_EQ(r1["status"], "interrupted") << r1.dump(2);
  std::string thread = r1["thread"];
  int64_t id = r1["interrupts"][0]["payload"]["proposal"];
  EXPECT_EQ(r1["interrupts"][0]["payload"]["target"], "celsius_to_fahrenheit");
  EXPECT_TRUE(a4ps_json("tool ls " + q(img)).empty());  // nothing registered without a yes

  // A resume before the decision stops again.
  EXPECT_EQ(run("--resume " + thread + " -m " + q(m))["status"], "interrupted");
  // Process 2: a human approves. Process 3: the run goes on, registers, re-runs, answers.
  a4ps_json("approvals approve " + q(img) + " " + std::to_string(id) + " --reason " + q("looks right") + " --reviewer tester");
  json r3 = run("--resume " + thread + " -m " + q(m));
  ASSERT_EQ(r3["status"], "done") << r3.dump(2);
  EXPECT_EQ(r3["answer"], "100 C is 212 F.");
  bool reran = false;
  for (auto& t : r3["transcript"])
    if (t["kind"] == "rerun") reran = t["result"]["stdout"] == "212.0\n";
  EXPECT_TRUE(reran);
  json tools = a4ps_json("tool ls " + q(img));
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["name"], "celsius_to_fahrenheit");
}

TEST_F(Agent, BabsRetrievesAMemoryThatFeedsTheAnswer) {
  a4ps_json("image init " + q(img));
  a4ps_json("memory add " + q(img) + " --text " + q("The office wifi password is heliotrope-42. Visitors ask at the desk."));
  a4ps_json("memory add " + q(img) + " --text " + q("Lunch is served at noon in the courtyard."));
  // ALFRED's answer line only matches when the memory reached his prompt.
  auto m = script({route("1", "BABS", "find the wifi password"), say("BABS", "The password is heliotrope-42 [text]."),
                   route("2", "ANSWER"), say("ALFRED", "It is heliotrope-42.", "heliotrope-42")});
  json r = run(q("what is the wifi password?") + " -m " + q(m));
  ASSERT_EQ(r["status"], "done");
  EXPECT_EQ(r["answer"], "It is heliotrope-42.");
  auto& babs = r["transcript"][1];
  EXPECT_EQ(babs["kind"], "retrieve");
  ASSERT_FALSE(babs["hits"].empty());
  EXPECT_NE(babs["hits"][0]["text"].get<std::string>().find("heliotrope-42"), std::string::npos);
}

TEST_F(Agent, LongNonAsciiMemoriesAreCutAtCharacterBoundaries) {
  a4ps_json("image init " + q(img));
  std::string text = "owl a";  // then 2-byte characters: byte 600, where prompts cut passages, falls inside one
  for (int i = 0; i < 400; ++i) text += "\xC3\xA9";
  a4ps_json("memory add " + q(img) + " --text " + q(text));
  auto m = script({route("1", "BABS", "owl"), say("BABS", "found it"), route("2", "ANSWER"), say("ALFRED", "ok", "Write the answer")});
  json r = run(q("owl") + " -m " + q(m));
  ASSERT_EQ(r["status"], "done");
  std::string hit = r["transcript"][1]["hits"][0]["text"];
  EXPECT_LT(hit.size(), text.size());
  EXPECT_EQ(hit.substr(hit.size() - 3), "\xE2\x80\xA6");  // "…" after a whole character
}

TEST_F(Agent, AChatKeepsTheConversationAndAnswersCommands) {
  auto m = script({route("1", "ANSWER"), say("ALFRED", "Hello, I am ALFRED.", "say hello"),
                   route("1", "ANSWER"), say("ALFRED", "You said hello before.", "Earlier, the user asked: say hello")});
  fs::path in = d / "input.txt";
  std::ofstream(in) << "say hello\n/tools\nand now?\n/persona BRICK\n/bogus\n/history\n/quit\n";
  auto r = a4ps("chat -i " + q(img) + " -m " + q(m) + " --thread talk < " + q(in));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ALFRED: Hello, I am ALFRED."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ALFRED: You said hello before."), std::string::npos) << r.out;  // the second turn saw the first
  EXPECT_NE(r.out.find("no tools yet"), std::string::npos);
  EXPECT_NE(r.out.find("name = 'BRICK'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown command /bogus"), std::string::npos);
  json t = a4ps_json("thread show " + q(img) + " talk");
  EXPECT_EQ(t["latest"]["state"]["history"].size(), 2u);  // the transcript is saved in the image
}

TEST_F(Agent, AFullRunOnEmbeddedLlamaWithASyntheticModel) {
  // Random weights: the words are noise, but every mechanism runs for real, and the
  // routing JSON must parse every time because a grammar forces its shape.
  for (std::string task : {"add two numbers", "tell me about owls"}) {
    json r = run(q(task) + " -m " + q(model(task == "add two numbers" ? "synthetic-llama-tiny.gguf" : "synthetic-qwen2-tiny.gguf")) + " --max-tokens 16 --max-turns 2");
    ASSERT_EQ(r["status"], "done");
    EXPECT_TRUE(r["answer"].is_string());
    int routes = 0;
    for (auto& t : r["transcript"])
      if (t["kind"] == "route") {
        ++routes;
        EXPECT_TRUE(t["route"]["parsed"].get<bool>()) << t.dump();
      } else if (t["kind"] == "critique") {
        EXPECT_TRUE(t["critique"]["parsed"].get<bool>()) << t.dump();
      }
    EXPECT_GE(routes, 1);
    json th = a4ps_json("thread show " + q(img) + " " + r["thread"].get<std::string>());
    EXPECT_EQ(th["latest"]["state"]["answer"], r["answer"]);
  }
}

TEST_F(Agent, WithoutAModelTheDefaultDownloadFailsInOneClearLine) {
  auto r = run_env("A4PS_MODEL= A4PS_MODELS=" + q(d / "models") + " A4PS_DEFAULT_MODEL_URL=http://127.0.0.1:9/model.gguf",
                   "run " + q("hello") + " -i " + q(img));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("could not be downloaded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--model or A4PS_MODEL"), std::string::npos) << r.err;
  auto last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);  // the error: one line, last
  EXPECT_EQ(last.rfind("a4ps: error: ", 0), 0u) << r.err;
}

TEST_F(Agent, TheImageRemembersItsModel) {
  auto m = script({route("1", "ANSWER"), say("ALFRED", "Yes.", "Write the answer")});
  a4ps_json("image init " + q(img));
  a4ps_json("image set " + q(img) + " model " + q(m));
  auto r = run_env("A4PS_MODEL=", "run " + q("ok?") + " -q -i " + q(img));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Yes.\n");
}

TEST_F(Agent, AnAdapterApprovedDuringAChatIsUsedAtBricksNextTurn) {
  const std::string base = q(model("synthetic-llama-tiny.gguf"));
  a4ps_json("image init " + q(img));
  // A small adapter for BRICK, trained here, proposed for activation.
  std::ofstream(d / "data.jsonl") << R"({"messages":[{"role":"user","content":"colour?"},{"role":"assistant","content":"Blue."}]})" << "\n";
  a4ps_json("learn train " + q(img) + " --persona BRICK --data " + q(d / "data.jsonl") + " --model " + base +
            " --steps 2 --rank 2 --alpha 4 --targets attn_q --threads 1");
  int64_t id = a4ps_json("learn activate " + q(img) + " --persona BRICK")["proposal"];

  // ALFRED and ROBIN run on a scripted (fake) model of their own, so the routing is fixed;
  // BRICK runs on the real base model through llama.cpp.
  auto m = script({route("1", "BRICK"), route("2", "ANSWER"), say("ALFRED", "Done.", "Write the answer"),
                   route("1", "BRICK"), route("2", "ANSWER"), say("ALFRED", "Done again.", "Write the answer"),
                   critique("accept", "fine"), critique("accept", "fine")});
  for (std::string who : {"ALFRED", "ROBIN"}) {
    std::ofstream(d / (who + ".toml")) << "name = \"" << who << "\"\nrole = \"fixed\"\nsystem = \"You are " << who << ".\"\n"
                                       << "model = \"" << m << "\"\nactions = [\"" << (who == "ALFRED" ? "route\", \"answer" : "critique") << "\"]\n";
    int64_t p = a4ps_json("persona propose " + q(img) + " " + q(d / (who + ".toml")) + " --reason test")["proposal"];
    a4ps_json("approvals approve " + q(img) + " " + std::to_string(p) + " --reason ok --reviewer tester");
    a4ps_json("approvals apply " + q(img) + " " + std::to_string(p));
  }
  std::ofstream(d / "in.txt") << "first task\n/approve " << id << " trained on our best answers\nsecond task\n/quit\n";
  auto r = a4ps("chat -i " + q(img) + " -m " + base + " --max-tokens 4 --thread c < " + q(d / "in.txt"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("proposal " + std::to_string(id) + " applied"), std::string::npos) << r.out;
  json t = a4ps_json("thread show " + q(img) + " c");
  std::vector<std::string> brick;
  for (auto& e : t["latest"]["state"]["transcript"])
    if (e["persona"] == "BRICK") brick.push_back(e["adapter"]);
  EXPECT_EQ(brick, (std::vector<std::string>{"", "brick-lora v1"}));  // the same process, hot-swapped
}

TEST_F(Agent, BadInputGetsOneLine) {
  auto m = script({});
  auto r = a4ps("run -i " + q(img) + " -m " + q(m));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("give a task"), std::string::npos) << r.err;
  r = a4ps("run " + q("x") + " -i " + q(img) + " -m " + q(d / "missing.gguf"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  r = a4ps("run -i " + q(img) + " -m " + q(m) + " --resume nope");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no thread 'nope'"), std::string::npos) << r.err;
}

TEST_F(Agent, AUserAddsAFifthPersonaThroughAnApprovedProposal) {
  a4ps_json("image init " + q(img));
  std::ofstream(d / "bad.toml") << "name = \"POET\"\nrole = \"writes verse\"\n";
  auto bad = a4ps("persona propose " + q(img) + " " + q(d / "bad.toml") + " --reason x");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("needs 'system'"), std::string::npos) << bad.err;
  EXPECT_TRUE(a4ps_json("approvals ls " + q(img)).empty());  // nothing half-filed

  std::ofstream(d / "poet.toml") << "name = \"POET\"\nrole = \"writes verse\"\nsystem = \"You are POET. Answer in verse.\"\n"
                                    "actions = [\"respond\"]\ncolour = \"yellow\"\n";
  json p = a4ps_json("persona propose " + q(img) + " " + q(d / "poet.toml") + " --reason " + q("we like verse"));
  std::string id = std::to_string(p["proposal"].get<int64_t>());
  EXPECT_EQ(a4ps_json("persona ls " + q(img)).size(), 4u);  // not before a human's yes
  a4ps_json("approvals approve " + q(img) + " " + id + " --reason ok --reviewer tester");
  a4ps_json("approvals apply " + q(img) + " " + id);
  json ls = a4ps_json("persona ls " + q(img));
  ASSERT_EQ(ls.size(), 5u);
  EXPECT_EQ(ls[4]["name"], "POET");

  auto m = script({route("1", "POET", "a couplet"), say("POET", "Owls at night / take flight."), route("2", "ANSWER"),
                   say("ALFRED", "Owls at night / take flight.", "Write the answer")});
  json r = run(q("a poem about owls") + " -m " + q(m));
  EXPECT_EQ(kinds(r), (std::vector<std::string>{"ALFRED:route", "POET:respond", "ALFRED:route", "ALFRED:answer"}));
}

}  // namespace
}  // namespace a4ps::test
