// End-to-end: the a4ps binary as a user runs it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <functional>

#include "image/image.h"
#include "testutil.h"

namespace a4ps {
namespace {

using image::Image;
using image::Kind;
using nlohmann::json;
using test::a4ps;
using test::q;
using test::TempDir;
namespace fs = std::filesystem;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, NewcomerCreatesAnImageAndSeesIt) {
  TempDir d;
  auto r = a4ps("image init " + q(d / "agent.a4ps") + " --name demo");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("created"), std::string::npos);
  r = a4ps("image info " + q(d / "agent.a4ps"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"demo\""), std::string::npos);
  EXPECT_NE(r.out.find("0 personas, 0 tools"), std::string::npos);
  r = a4ps("--json image info " + q(d / "agent.a4ps"));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["name"], "demo");
  EXPECT_EQ(j["schema_version"], image::kSchemaVersion);
  EXPECT_EQ(j["events"]["count"], 1);
  r = a4ps("image check " + q(d / "agent.a4ps") + " --json");  // --json works after the command too
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ok"], true);
}

TEST(Cli, InitRecordsTheBaseModelByPathAndHash) {
  TempDir d;
  auto gguf = test::model("synthetic-llama-tiny.gguf");
  auto r = a4ps("--json image init " + q(d / "a.a4ps") + " --base-model " + q(gguf));
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["base_model"]["sha256"], sha256_file(gguf));
  EXPECT_EQ(j["base_model"]["path"], fs::absolute(gguf).lexically_normal().string());
  EXPECT_LT(fs::file_size(d / "a.a4ps"), fs::file_size(gguf));  // referenced, not copied
}

TEST(Cli, SaveAsForkExportImport) {
  TempDir d;
  ASSERT_EQ(a4ps("image init " + q(d / "a.a4ps")).code, 0);
  auto r = a4ps("image save-as " + q(d / "a.a4ps") + " " + q(d / "b.a4ps"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = a4ps("--json image fork " + q(d / "a.a4ps") + " " + q(d / "f.a4ps") + " --name child");
  ASSERT_EQ(r.code, 0) << r.err;
  json f = json::parse(r.out);
  EXPECT_EQ(f["name"], "child");
  EXPECT_EQ(f["parent_id"], Image::open(d / "a.a4ps").meta("image_id"));
  r = a4ps("--json image export " + q(d / "f.a4ps") + " " + q(d / "f.tar"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["manifest"]["format"], "a4ps-image-export");
  r = a4ps("image import " + q(d / "f.tar") + " " + q(d / "g.a4ps"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("verified"), std::string::npos);
  EXPECT_EQ(a4ps("image check " + q(d / "g.a4ps")).code, 0);
  r = a4ps("image diff --exit-code " + q(d / "f.a4ps") + " " + q(d / "g.a4ps"));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(Cli, DiffPrintsAddedRemovedAndChangedWithSourceDiffs) {
  TempDir d;
  {
    Image a = Image::create(d / "a.a4ps");
    a.put(Kind::Tool, "add", "def add(a, b):\n    return a + b\n");
    a.put(Kind::Persona, "BRICK", "name = \"BRICK\"\n");
  }
  {
    Image b = image::fork(d / "a.a4ps", d / "b.a4ps");
    b.put(Kind::Tool, "add", "def add(a, b):\n    return b + a\n");
    b.put(Kind::Persona, "ROBIN", "name = \"ROBIN\"\n");
    b.put(Kind::Adapter, "robin-lora", "ROBIN adapter", {{"base_sha256", "b"}}, "GGUF...");
  }
  auto r = a4ps("image diff --exit-code " + q(d / "a.a4ps") + " " + q(d / "b.a4ps"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out,
            "+ persona ROBIN (v1)\n"
            "~ tool add (v1 -> v2)\n"
            "--- tool/add@v1\n+++ tool/add@v2\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return b + a\n"
            "+ adapter robin-lora (v1)\n");
}

TEST(Cli, ModelInfoAndGenerateOnASyntheticModel) {
  auto gguf = q(test::model("synthetic-qwen2-tiny.gguf"));
  auto r = a4ps("model info " + gguf);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("SYNTHETIC"), std::string::npos);
  EXPECT_NE(r.out.find("architecture   qwen2"), std::string::npos);
  EXPECT_NE(r.out.find("chat template  yes"), std::string::npos);
  EXPECT_NE(r.out.find("quantization   Q8_0"), std::string::npos);
  r = a4ps("--json model generate " + gguf + " -p 'Say hi' -n 8 --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(json::parse(r.out)["generated_tokens"].get<int>(), 0);
}

// doctor lists the compute devices ggml sees and says how to get a GPU; --model shows how
// a model would be split within the VRAM budget.
TEST(Cli, DoctorListsComputeDevicesAndPlansAModel) {
  auto gguf = q(test::model("synthetic-qwen2-tiny.gguf"));
  auto r = a4ps("doctor --model " + gguf);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("agent code will run in"), std::string::npos) << r.out;  // the sandboxes, as before
  EXPECT_NE(r.out.find("compute devices (llama.cpp built with: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  CPU        cpu   "), std::string::npos) << r.out;
  json j = test::a4ps_json("doctor --model " + gguf);
  const json& c = j["compute"];
  ASSERT_FALSE(c["devices"].empty());
  bool cpu = false;
  for (auto& d : c["devices"]) cpu |= d["type"] == "cpu";
  EXPECT_TRUE(cpu) << c.dump();
  EXPECT_EQ(c["model"]["layers"], 2);
  if (c["offload_device"] == "") {  // a CPU-only build or machine: the advice says what to do
    EXPECT_EQ(c["model"]["gpu_layers"], 0);
    EXPECT_EQ(c["model"]["summary"], "CPU only (no GPU budget)");
    EXPECT_NE(r.out.find(gguf.substr(1, gguf.size() - 2) + ": CPU only (no GPU budget)"), std::string::npos) << r.out;
    EXPECT_TRUE(c["advice"].get<std::string>().find("A4PS_GPU=") != std::string::npos ||
                c["advice"].get<std::string>().find("no ") != std::string::npos) << c["advice"];
  } else {
    EXPECT_EQ(c["model"]["gpu_layers"], 3) << c.dump();  // a tiny model fits any GPU
  }
  // A budget of 0 keeps everything on the CPU; a budget that is not a size is one clear line.
  r = test::run("A4PS_VRAM_BUDGET=0 " + std::string(A4PS_BIN) + " --json doctor --model " + gguf);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["compute"]["model"]["gpu_layers"], 0);
  r = a4ps("doctor --model /nonexistent.gguf");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err, "a4ps: error: no model file at /nonexistent.gguf; check the path\n");
}

// ---- bad input: one clear line, non-zero exit, the file untouched ---------------

struct BadCase {
  const char* what;
  std::function<void(const fs::path&)> make;  // writes the bad file
  const char* expect;                           // part of the error line
  const char* command;                          // the command that must refuse it
};

void make_image(const fs::path& p) {
  Image img = Image::create(p);
  for (int i = 0; i < 40; ++i) img.put(Kind::Tool, "tool" + std::to_string(i), std::string(2000, 'x'));
}

void sql(const fs::path& p, const char* s) {
  sqlite3* db = nullptr;
  sqlite3_open(p.c_str(), &db);
  sqlite3_exec(db, s, nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

const BadCase kBad[] = {
    {"a text file", [](const fs::path& p) { std::ofstream(p) << "not an image at all\n"; },
     "is not an A4PS image (not a SQLite database)", "info"},
    {"an empty file", [](const fs::path& p) { std::ofstream{p}; }, "not a SQLite database", "info"},
    {"a SQLite file that is not an image", [](const fs::path& p) { sql(p, "CREATE TABLE t(x); INSERT INTO t VALUES(1);"); },
     "is a SQLite database but not an A4PS image", "info"},
    {"an image with a newer schema", [](const fs::path& p) { make_image(p); sql(p, "PRAGMA user_version=7"); },
     "has image schema 7, newer than this a4ps reads", "info"},
    {"a truncated image", [](const fs::path& p) { make_image(p); fs::resize_file(p, fs::file_size(p) / 2); },
     "is truncated or corrupted", "info"},
    {"a corrupted image",
     [](const fs::path& p) {
       make_image(p);
       std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
       for (std::streamoff off = 4096 * 3; off < 4096 * 12; off += 4096) {
         f.seekp(off);
         f << std::string(600, '\xA5');
       }
     },
     "corrupted", "check"},
    {"a tampered event chain",
     [](const fs::path& p) {
       make_image(p);
       sql(p, "DROP TRIGGER events_no_update; UPDATE events SET payload='{}' WHERE seq=5;");
     },
     "event chain broken at seq 5", "check"},
    {"a rewritten head event",
     [](const fs::path& p) {
       make_image(p);
       sql(p, "DROP TRIGGER events_no_update; UPDATE events SET actor='x' WHERE seq=(SELECT max(seq) FROM events);");
     },
     "the event log was altered outside A4PS", "info"},
};

TEST(Cli, BadInputGivesOneClearLineAndLeavesTheFileUntouched) {
  for (const auto& c : kBad) {
    TempDir d;
    fs::path p = d / "bad.a4ps";
    c.make(p);
    std::string before = sha256_file(p);
    auto before_files = std::distance(fs::directory_iterator(d.path), fs::directory_iterator{});
    for (std::string cmd : {std::string(c.command), std::string("diff ") + q(p)}) {
      auto r = a4ps("image " + cmd + " " + q(p));
      if (cmd.rfind("diff", 0) == 0 && std::string(c.command) == "check") continue;  // diff only reads heads
      EXPECT_NE(r.code, 0) << c.what;
      EXPECT_EQ(lines(r.err), 1) << c.what << ": " << r.err;
      EXPECT_EQ(r.err.rfind("a4ps: error: ", 0), 0u) << c.what << ": " << r.err;
      EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.what << ": " << r.err;
    }
    EXPECT_EQ(sha256_file(p), before) << c.what << ": the file was changed";
    EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator{}), before_files)
        << c.what << ": files were left beside it";
  }
}

TEST(Cli, MissingFilesAndUsageErrors) {
  TempDir d;
  auto r = a4ps("image info " + q(d / "nope.a4ps"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "a4ps: error: no image at " + (d / "nope.a4ps").string() + "; create one with `a4ps image init " +
                       (d / "nope.a4ps").string() + "`\n");
  r = a4ps("model info " + q(d / "nope.gguf"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(lines(r.err), 1);
  r = a4ps("run --try-adapter ALFRED -i " + q(d / "t.a4ps") + " hello");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "a4ps: error: --try-adapter takes PERSONA=SHA256 (a training run's, see a4ps learn runs) or "
                   "PERSONA=none; got 'ALFRED'\n");
  EXPECT_FALSE(fs::exists(d / "t.a4ps"));  // refused before the image was created
  r = a4ps("image frobnicate");
  EXPECT_EQ(r.code, 2);  // usage errors are CLI11's, exit 2
  ASSERT_EQ(a4ps("image init " + q(d / "a.a4ps")).code, 0);
  r = a4ps("image init " + q(d / "a.a4ps"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos);
}

}  // namespace
}  // namespace a4ps
