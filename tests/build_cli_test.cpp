// `a4ps build` end to end, as a user runs it: an Ollama-style Modelfile builds; the agent
// example (persona, codex, a tool whose tests run in the real sandbox, real LoRA training
// on a tiny synthetic model, memories) builds, rebuilds from its cache without retraining,
// rebuilds from a changed MEMORY file on, and round-trips through `image show --imagefile`;
// bad input is one located line and leaves nothing behind; tags, FROM cycles and prune.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "image/image.h"
#include "sandbox/sandbox.h"
#include "testutil.h"

namespace a4ps::test {
namespace {

using nlohmann::json;

const fs::path kExamples = fs::path(A4PS_SOURCE_DIR) / "examples";

struct Build {
  TempDir d, c;  // the work folder, and the build cache beside it (layers are meant to stay)
  fs::path cache = c.path;
  // Runs a4ps in `cwd` with its own build cache and model folder.
  RunResult a4ps(const std::string& args, const fs::path& cwd) const {
    return run("cd " + q(cwd) + " && A4PS_CACHE=" + q(cache) + " A4PS_MODELS=" + q(cache / "models") + " " + A4PS_BIN + " " + args);
  }
  // Nothing half-written in the cache either.
  std::vector<std::string> cache_temporaries() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(cache, ec))
      if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
    return out;
  }
  json a4ps_json(const std::string& args, const fs::path& cwd) const {
    RunResult r = a4ps("--json " + args, cwd);
    if (r.code != 0) throw std::runtime_error("a4ps " + args + " failed: " + r.err + r.out);
    return json::parse(r.out);
  }
};

std::string os_user() { return run("id -un").out.substr(0, run("id -un").out.find('\n')); }

// Whether any sandbox provider really runs Python here (what TOOL needs).
bool sandbox_works() {
  try {
    sandbox::strongest();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Files in dir whose names hold one of the words of a half-written output.
std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    std::string f = e.path().filename().string();
    if (f.find(".tmp") != std::string::npos || f.ends_with(".a4ps") || f.ends_with("-wal") || f.ends_with("-shm"))
      if (f != "base.a4ps") out.push_back(e.path().string());
  }
  return out;
}

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

std::vector<bool> cached_steps(const json& j) {
  std::vector<bool> out;
  for (auto& s : j["steps"]) out.push_back(s["cached"].get<bool>());
  return out;
}

std::vector<image::Event> events_of(const fs::path& img, const std::string& kind) {
  std::vector<image::Event> out;
  for (auto& e : image::Image::open(img, {.read_only = true}).events())
    if (e.kind == kind) out.push_back(e);
  return out;
}

TEST(BuildCli, TheExampleModelfileBuildsAndARebuildIsAllCached) {
  Build b;
  copy_tree(kExamples, b.d / "ex");
  json j = b.a4ps_json("build -f Modelfile -o " + q(b.d / "mario.a4ps"), b.d / "ex");
  EXPECT_EQ(j["cached"], 0);
  ASSERT_EQ(j["steps"].size(), 12u);
  EXPECT_EQ(j["steps"][0]["instruction"], "FROM llama3.2");
  image::Image img = image::Image::open(b.d / "mario.a4ps", {.read_only = true});
  EXPECT_EQ(img.setting("model"), "ollama:llama3.2");  // a bare name is an Ollama model, as in Ollama
  json params = json::parse(img.setting("parameters"));
  EXPECT_EQ(params["temperature"], 1);
  EXPECT_EQ(params["num_ctx"], 4096);
  EXPECT_EQ(params["stop"], json::array({"<|eot_id|>"}));
  EXPECT_EQ(img.setting("system"), "You are Mario from Super Mario Bros, acting as an assistant.");
  EXPECT_EQ(img.setting("template").rfind("{{ if .System }}<|start_header_id|>system", 0), 0u);
  EXPECT_EQ(json::parse(img.setting("messages")).size(), 4u);
  EXPECT_EQ(json::parse(img.setting("messages"))[1], (json{{"role", "assistant"}, {"content", "yes"}}));
  EXPECT_EQ(img.setting("requires"), "0.6.0");
  EXPECT_EQ(json::parse(img.setting("license"))[0], "Example text only: use the license of the model you build FROM.\n");
  EXPECT_TRUE(img.check().ok);

  auto r = b.a4ps("build -f Modelfile -t mario", b.d / "ex");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("step 1/12 FROM llama3.2 (cached)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 12/12 REQUIRES 0.6.0 (cached)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("12 of 12 steps cached"), std::string::npos) << r.out;
  // --no-cache runs every step again.
  j = b.a4ps_json("build -f Modelfile -o " + q(b.d / "again.a4ps") + " --no-cache", b.d / "ex");
  EXPECT_EQ(j["cached"], 0);
}

TEST(BuildCli, SeveralAdaptersKeepTheirOrderAndScaleAndAreApprovedByTheBuilder) {
  Build b;
  fs::copy_file(model("synthetic-llama-tiny.gguf"), b.d / "base.gguf");
  fs::copy_file(model("synthetic-llama-tiny-lora.gguf"), b.d / "style.gguf");
  fs::copy_file(model("synthetic-llama-tiny-lora.gguf"), b.d / "domain.gguf");
  std::ofstream(b.d / "Imagefile") << "FROM base.gguf\nADAPTER style.gguf scale=0.5\nADAPTER domain.gguf scale=1.25\n";
  json j = b.a4ps_json("build -o out.a4ps", b.d.path);
  image::Image img = image::Image::open(b.d / "out.a4ps", {.read_only = true});
  EXPECT_EQ(json::parse(img.setting("adapters")),
            json::parse(R"([{"name": "style", "scale": 0.5}, {"name": "domain", "scale": 1.25}])"));
  EXPECT_EQ(img.list(image::Kind::Adapter).size(), 2u);
  EXPECT_EQ(img.info().base_model_sha256, sha256_file(b.d / "base.gguf"));
  // Each adapter is a proposal the person running the build approved, in the audit log.
  std::string reason = "built from Imagefile " + j["imagefile_sha256"].get<std::string>();
  auto approvals = events_of(b.d / "out.a4ps", "proposal.approved");
  ASSERT_EQ(approvals.size(), 2u);
  for (auto& e : approvals) {
    EXPECT_EQ(e.actor, os_user());
    EXPECT_EQ(json::parse(e.payload)["reason"], reason);
  }
  for (auto& p : img.proposals()) EXPECT_EQ(p.status, "applied");
}

TEST(BuildCli, SystemIsThePreambleOfEveryPersonasPromptAndMessagesAreTheSeedConversation) {
  Build b;
  fs::permissions(b.d.path, fs::perms::others_exec, fs::perm_options::add);
  std::ofstream(b.d / "Imagefile") << "FROM scratch\nSYSTEM Speak like a ship's captain.\n"
                                   << "MESSAGE user Is Toronto in Canada?\nMESSAGE assistant Aye, it is.\n";
  ASSERT_EQ(b.a4ps("build -o agent.a4ps", b.d.path).code, 0);
  std::ofstream(b.d / "m.jsonl")
      << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", json{{"next", "ANSWER"}, {"brief", "go"}}.dump()}}.dump() << "\n"
      << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "Aye."}}.dump() << "\n";
  json r = b.a4ps_json("run -i agent.a4ps hello -m scripted:m.jsonl", b.d.path);
  EXPECT_EQ(r["answer"], "Aye.");
  json t = b.a4ps_json("thread show agent.a4ps " + r["thread"].get<std::string>(), b.d.path);
  auto& tr = t["latest"]["state"]["transcript"];
  ASSERT_GE(tr.size(), 2u);
  for (auto& t : tr) {
    EXPECT_EQ(t["prompt"][0]["content"].get<std::string>().rfind("Speak like a ship's captain.\n\nYou are ALFRED", 0), 0u) << t.dump();
    EXPECT_EQ(t["prompt"][1]["content"].get<std::string>().rfind("Earlier, the user asked: Is Toronto in Canada?\nYou answered: Aye, it is.\n", 0), 0u)
        << t.dump();
  }
}

TEST(BuildCli, PersonasOnTheBaseModelRunWithTheAdapterStackInOrder) {
  Build b;
  fs::permissions(b.d.path, fs::perms::others_exec, fs::perm_options::add);
  fs::copy_file(model("synthetic-llama-tiny.gguf"), b.d / "base.gguf");
  fs::copy_file(model("synthetic-llama-tiny-lora.gguf"), b.d / "style.gguf");
  fs::copy_file(model("synthetic-llama-tiny-lora.gguf"), b.d / "domain.gguf");
  // ALFRED and ROBIN on a scripted model (inline PERSONA blocks), so the route is fixed;
  // BRICK thinks on the base model through llama.cpp, with the image's adapters.
  std::string m = "scripted:" + (b.d / "m.jsonl").string();
  std::ofstream(b.d / "m.jsonl")
      << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", json{{"next", "BRICK"}, {"brief", "go"}}.dump()}}.dump() << "\n"
      << json{{"persona", "ROBIN"}, {"text", json{{"verdict", "accept"}, {"reasons", "fine"}}.dump()}}.dump() << "\n"
      << json{{"persona", "ALFRED"}, {"match", "routing turn 2 "}, {"text", json{{"next", "ANSWER"}, {"brief", "go"}}.dump()}}.dump() << "\n"
      << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "Done."}}.dump() << "\n";
  std::ofstream(b.d / "Imagefile") << "FROM base.gguf\nADAPTER style.gguf scale=0.5\nADAPTER domain.gguf scale=0.25\n"
                                   << "PERSONA \"\"\"\nname = \"ALFRED\"\nrole = \"fixed\"\nsystem = \"You are ALFRED.\"\n"
                                   << "model = \"" << m << "\"\nactions = [\"route\", \"answer\"]\n\"\"\"\n"
                                   << "PERSONA \"\"\"\nname = \"ROBIN\"\nrole = \"fixed\"\nsystem = \"You are ROBIN.\"\n"
                                   << "model = \"" << m << "\"\nactions = [\"critique\"]\n\"\"\"\n";
  ASSERT_EQ(b.a4ps("build -o agent.a4ps", b.d.path).code, 0);
  json r = b.a4ps_json("run -i agent.a4ps task -m base.gguf --max-tokens 4", b.d.path);
  EXPECT_EQ(r["answer"], "Done.");
  json t = b.a4ps_json("thread show agent.a4ps " + r["thread"].get<std::string>(), b.d.path);
  std::vector<std::string> brick;
  for (auto& e : t["latest"]["state"]["transcript"])
    if (e["persona"] == "BRICK") brick.push_back(e["adapter"]);
  EXPECT_EQ(brick, std::vector<std::string>{"style v1 + domain v1"});
}

// The tutor example: every A4PS instruction, with real sandbox tests and real training.
class TutorBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!sandbox_works()) GTEST_SKIP() << "no sandbox works here (see `a4ps doctor`); TOOL tests cannot run";
    fs::permissions(b.d.path, fs::perms::others_exec, fs::perm_options::add);  // `tool run`'s workspace is beside the image
    copy_tree(kExamples / "tutor", dir);
    fs::copy_file(model("synthetic-llama-tiny.gguf"), dir / "base.gguf");
  }
  Build b;
  fs::path dir = b.d / "tutor";
};

TEST_F(TutorBuild, BuildsRebuildsFromTheCacheAndFromAChangedMemoryOnAndRoundTrips) {
  json first = b.a4ps_json("build -o " + q(b.d / "tutor.a4ps") + " --threads 1", dir);
  ASSERT_EQ(first["steps"].size(), 14u);
  EXPECT_EQ(first["cached"], 0);
  fs::path img_path = b.d / "tutor.a4ps";
  {
    image::Image img = image::Image::open(img_path, {.read_only = true});
    EXPECT_TRUE(img.check().ok);
    ASSERT_TRUE(img.get(image::Kind::Tool, "simplify_fraction"));
    ASSERT_TRUE(img.get(image::Kind::Persona, "TUTOR"));
    EXPECT_NE(img.get(image::Kind::Codex, "codex")->content.find("scaffolding"), std::string::npos);
    auto lora = img.get(image::Kind::Adapter, "tutor-lora");
    ASSERT_TRUE(lora);
    EXPECT_EQ(lora->meta["persona"], "TUTOR");
    EXPECT_EQ(img.blob(lora->blob_sha256).substr(0, 4), "GGUF");
    EXPECT_EQ(img.info().counts.memories, 2);
    EXPECT_EQ(img.setting("label.title"), "Maths tutor");
    EXPECT_EQ(img.setting("max_rounds"), "2");
    EXPECT_EQ(img.info().name, "tutor");  // named after its file, an identity of its own
    EXPECT_FALSE(img.info().parent_id.empty());
    // Four self-modifications, each approved by the OS user with the recipe's hash.
    auto ps = img.proposals();
    ASSERT_EQ(ps.size(), 4u);
    for (auto& p : ps) {
      EXPECT_EQ(p.status, "applied") << p.kind;
      EXPECT_EQ(p.reviewer, os_user());
      EXPECT_EQ(p.reason, "built from Imagefile " + first["imagefile_sha256"].get<std::string>());
    }
  }
  // Memories are embedded with the base model, so search finds them by meaning too.
  json mem_ls = b.a4ps_json("memory ls " + q(img_path), dir);
  ASSERT_EQ(mem_ls.size(), 2u);
  for (auto& m : mem_ls) EXPECT_EQ(m["embedded"], m["chunks"]) << m.dump();
  // The build says what it approved, and as whom.
  ASSERT_EQ(first["approvals"].size(), 4u);
  EXPECT_EQ(first["approvals"][2]["kind"], "tool.register");
  EXPECT_EQ(first["approvals"][2]["reviewer"], os_user());
  auto trained = events_of(img_path, "learn.trained");
  ASSERT_EQ(trained.size(), 1u);
  // The tool really ran its tests in the sandbox.
  auto r = b.a4ps("tool run " + q(img_path) + " 'simplify_fraction(12, 18)'", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "(2, 3)\n");

  // Nothing changed: every layer is reused, and the FINETUNE layer is not retrained
  // (the rebuilt image carries the very training event of the first build).
  json again = b.a4ps_json("build -o " + q(b.d / "again.a4ps"), dir);
  EXPECT_EQ(again["cached"], 14);
  auto retrained = events_of(b.d / "again.a4ps", "learn.trained");
  ASSERT_EQ(retrained.size(), 1u);
  EXPECT_EQ(retrained[0].ts, trained[0].ts);
  EXPECT_EQ(retrained[0].hash, trained[0].hash);

  // One MEMORY file changes: the steps before MEMORY are reused, MEMORY and after rebuild.
  std::ofstream(dir / "notes" / "progress.md", std::ios::app) << "- Week 3: adding fractions, two mistakes.\n";
  json mem = b.a4ps_json("build -o " + q(b.d / "mem.a4ps"), dir);
  std::vector<bool> expect(14, false);
  size_t memory_step = 0;
  for (size_t i = 0; i < mem["steps"].size(); ++i)
    if (mem["steps"][i]["instruction"].get<std::string>().rfind("MEMORY", 0) == 0) memory_step = i;
  ASSERT_GT(memory_step, 0u);
  for (size_t i = 0; i < memory_step; ++i) expect[i] = true;
  EXPECT_EQ(cached_steps(mem), expect);
  EXPECT_EQ(events_of(b.d / "mem.a4ps", "learn.trained")[0].ts, trained[0].ts);
  r = b.a4ps("image diff " + q(img_path) + " " + q(b.d / "mem.a4ps"), dir);
  EXPECT_NE(r.out.find("~ memory notes/progress.md"), std::string::npos) << r.out;

  // Round trip: build -> show --imagefile -> build -> no differences.
  r = b.a4ps("image show --imagefile " + q(img_path) + " -o " + q(b.d / "shown"), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::string shown = read_file(b.d / "shown" / "Imagefile");
  EXPECT_NE(shown.find("ADAPTER files/adapters/tutor-lora.gguf name=tutor-lora persona=TUTOR"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("FINETUNE"), std::string::npos) << shown;
  json rebuilt = b.a4ps_json("build -f " + q(b.d / "shown" / "Imagefile") + " -o " + q(b.d / "rebuilt.a4ps"), dir);
  EXPECT_EQ(rebuilt["cached"], 0);
  r = b.a4ps("image diff --exit-code " + q(img_path) + " " + q(b.d / "rebuilt.a4ps"), dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "no differences in personas, tools, codex, adapters, memories or settings\n");
  // ... and the diff does see a difference where there is one.
  EXPECT_EQ(b.a4ps("image diff --exit-code " + q(b.d / "rebuilt.a4ps") + " " + q(b.d / "mem.a4ps"), dir).code, 1);
}

TEST_F(TutorBuild, AToolWhoseTestsFailStopsTheBuildAndLeavesNothing) {
  std::ofstream(dir / "tools" / "test_simplify_fraction.py") << "assert simplify_fraction(6, 8) == (6, 8)\n";
  auto r = b.a4ps("build -o " + q(b.d / "tutor.a4ps"), dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("Imagefile:19:57: error: tool simplify_fraction failed its tests in the sandbox (AssertionError"), std::string::npos)
      << r.err;
  EXPECT_EQ(leftovers(b.d.path), std::vector<std::string>{}) << r.err;
  EXPECT_EQ(b.cache_temporaries(), std::vector<std::string>{});
  // A tool the forge's ast checks refuse stops it too.
  std::ofstream(dir / "tools" / "simplify_fraction.py") << "import os\ndef simplify_fraction(n, d):\n    return os.getcwd()\n";
  r = b.a4ps("build -o " + q(b.d / "tutor.a4ps"), dir);
  EXPECT_NE(r.err.find("Imagefile:19:24: error: tool simplify_fraction was refused by the forge's checks: import of 'os' is not allowed"),
            std::string::npos) << r.err;
  EXPECT_EQ(leftovers(b.d.path), std::vector<std::string>{});
}

struct BadCase {
  std::string imagefile, error;  // the whole stderr line
};

TEST(BuildCli, BadInputIsOneLocatedLineAndLeavesNoFileBehind) {
  Build b;
  fs::copy_file(model("synthetic-llama-tiny.gguf"), b.d / "base.gguf");
  fs::copy_file(model("synthetic-qwen2-tiny-lora.gguf"), b.d / "qwen-lora.gguf");
  std::ofstream(b.d / "p.toml") << "name = \"P\"\nrole = \"r\"\nsystem = \"s\"\n";
  const std::string zeros(64, '0'), sum = sha256_file(b.d / "base.gguf");
  const BadCase cases[] = {
      {"FROM base.gguf\nCOPY a b\n",
       "Imagefile:2:1: error: unknown instruction 'COPY'; expected one of FROM, PARAMETER, TEMPLATE, SYSTEM, ADAPTER, MESSAGE, "
       "LICENSE, REQUIRES, PERSONA, TOOL, CODEX, MEMORY, FINETUNE, SETTING, LABEL"},
      {"FROM base.gguf\nSYSTEM \"\"\"\nunfinished\n",
       "Imagefile:2:8: error: unterminated \"\"\" block; expected a closing \"\"\" before the end of the file"},
      {"FROM base.gguf\nPERSONA p.toml\nMEMORY notes/missing.md\n",
       "Imagefile:3:8: error: file 'notes/missing.md' does not exist; expected a path relative to the Imagefile's folder (" +
           b.d.path.string() + ")"},
      {"FROM base.gguf sha256=" + zeros + "\n",
       "Imagefile:1:23: error: 'base.gguf' has sha256 " + sum + "; expected sha256=" + zeros +
           " (a changed file, or a wrong checksum in the Imagefile)"},
      {"FROM https://example.com/m.gguf\n",
       "Imagefile:1:6: error: FROM a URL needs its checksum; expected FROM https://example.com/m.gguf sha256=HEX"},
      {"FROM base.gguf\nPERSONA \"\"\"\nname = \"X\"\n\"\"\"\n",
       "Imagefile:2:1: error: PERSONA failed: the proposed persona: a persona needs 'role' (e.g. role = \"...\")"},
      {"FROM nothing/here.gguf\n",
       "Imagefile:1:6: error: 'nothing/here.gguf' does not exist; expected a GGUF or image path relative to the Imagefile's "
       "folder, a tag, ollama:NAME or a URL"},
      {"FROM base.gguf\nADAPTER qwen-lora.gguf scale=0.5\n",
       "Imagefile:2:9: error: adapter 'qwen-lora.gguf' is for a qwen2 model and the base is llama; expected an adapter made "
       "for this base model"},
      {"FROM scratch\nFINETUNE BRICK p.toml\n",
       "Imagefile:2:1: error: FINETUNE trains on a local GGUF base model, and this image has none; expected FROM MODEL.gguf"},
  };
  for (auto& c : cases) {
    std::ofstream(b.d / "Imagefile", std::ios::trunc) << c.imagefile;
    auto r = b.a4ps("build -o out.a4ps", b.d.path);
    EXPECT_EQ(r.code, 1) << c.imagefile;
    EXPECT_EQ(r.err, c.error + "\n") << c.imagefile;
    EXPECT_EQ(leftovers(b.d.path), std::vector<std::string>{}) << c.imagefile;
    EXPECT_EQ(b.cache_temporaries(), std::vector<std::string>{}) << c.imagefile;
  }
}

TEST(BuildCli, AUrlNeedsNoNetworkWhenRefusedAndAnUnreachableHostIsOneLine) {
  Build b;
  // A closed port on loopback: nothing is fetched from anywhere.
  std::ofstream(b.d / "Imagefile") << "FROM http://127.0.0.1:9/m.gguf sha256=" << std::string(64, 'a') << "\n";
  auto r = b.a4ps("build -o out.a4ps", b.d.path);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("Imagefile:1:6: error: pulling http://127.0.0.1:9/m.gguf failed (", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(leftovers(b.d.path), std::vector<std::string>{});
  // A model already downloaded with that name and checksum is used as it is: no fetch.
  fs::create_directories(b.cache / "models");
  fs::copy_file(model("synthetic-llama-tiny.gguf"), b.cache / "models" / "m.gguf");
  std::string sum = sha256_file(b.cache / "models" / "m.gguf");
  std::ofstream(b.d / "Imagefile", std::ios::trunc) << "FROM http://127.0.0.1:9/m.gguf sha256=" << sum << "\n";
  r = b.a4ps("build -o out.a4ps", b.d.path);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(image::Image::open(b.d / "out.a4ps", {.read_only = true}).info().base_model_sha256, sum);
}

TEST(BuildCli, TagsAreImagesToBuildFromCyclesAreRefusedAndPruneFreesTheRest) {
  Build b;
  std::ofstream(b.d / "base.Imagefile") << "FROM scratch\nLABEL layer base\n";
  ASSERT_EQ(b.a4ps("build -f base.Imagefile -t base", b.d.path).code, 0);
  std::ofstream(b.d / "child.Imagefile") << "FROM base\nSYSTEM You are a child image.\n";
  auto r = b.a4ps("build -f child.Imagefile -t child -o child.a4ps", b.d.path);
  ASSERT_EQ(r.code, 0) << r.err;
  {
    image::Image img = image::Image::open(b.d / "child.a4ps", {.read_only = true});
    EXPECT_EQ(img.setting("label.layer"), "base");
    EXPECT_EQ(img.setting("system"), "You are a child image.");
  }
  // base FROM child, while child is FROM base: a cycle.
  std::ofstream(b.d / "cycle.Imagefile") << "# base, again\nFROM child\n";
  r = b.a4ps("build -f cycle.Imagefile -t base", b.d.path);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "cycle.Imagefile:2:6: error: FROM cycle: base <- child <- base; expected a FROM that does not lead back to base\n");
  // An image built FROM its own output is a cycle too.
  std::ofstream(b.d / "self.Imagefile") << "FROM child.a4ps\n";
  r = b.a4ps("build -f self.Imagefile -o child.a4ps", b.d.path);
  EXPECT_NE(r.err.find("FROM cycle: the image is built FROM its own output"), std::string::npos) << r.err;

  // Untagged layers: an -o build of something else.
  std::ofstream(b.d / "other.Imagefile") << "FROM scratch\nLABEL layer other\nLABEL more yes\n";
  ASSERT_EQ(b.a4ps("build -f other.Imagefile -o other.a4ps", b.d.path).code, 0);
  json p = b.a4ps_json("build prune", b.d.path);
  EXPECT_EQ(p["removed"], 2);  // other's two LABEL layers; FROM scratch is base's own
  EXPECT_GT(p["bytes_freed"].get<uint64_t>(), 0u);
  EXPECT_EQ(p["kept"], 4);     // base: FROM + LABEL; child: FROM base + SYSTEM
  EXPECT_EQ(b.a4ps_json("build prune", b.d.path)["removed"], 0);
  // What the tags reach is still there: a rebuild of child is all cached.
  EXPECT_EQ(b.a4ps_json("build -f child.Imagefile -t child", b.d.path)["cached"], 2);
}

}  // namespace
}  // namespace a4ps::test
