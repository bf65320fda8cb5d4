// End-to-end: doesNotUnderstand through the CLI, each step its own process. The model
// is the scripted fake; the code runs in bubblewrap.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
using test::a4ps;
using test::q;
namespace fs = std::filesystem;

// A fresh image the sandbox user can reach, and a scripted model whose first answer is
// a working slugify.
class ToolCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v bwrap >/dev/null") != 0) GTEST_SKIP() << "bubblewrap is not installed";
    fs::permissions(d.path, fs::perms::others_exec, fs::perm_options::add);
    img = q(d / "a.a4ps");
    ASSERT_EQ(a4ps("image init " + img).code, 0);
    std::ofstream(d / "model.jsonl")
        << json{{"text", "```python\ndef slugify(arg1, sep):\n    return sep.join(arg1.lower().split())\n```"}}.dump() << "\n"
        << json{{"text", "```python\ndef slugify(arg1, sep):\n    return sep.join(reversed(arg1.lower().split()))\n```"}}.dump()
        << "\n";
  }
  test::TempDir d;
  std::string img;
};

TEST_F(ToolCli, ACallToAMissingFunctionIsForgedProposedAndThenWorks) {
  const std::string code = " \"slugify('Hello World', sep='-')\" --sandbox bwrap";
  auto r = a4ps("tool run " + img + code);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("slugify does not exist; pass --model to forge it"), std::string::npos) << r.out;
  r = a4ps("--json tool run " + img + code + " --model scripted:" + q(d / "model.jsonl"));
  EXPECT_EQ(r.code, 1);
  json j = json::parse(r.out);
  EXPECT_EQ(j["error_type"], "NameError");
  EXPECT_EQ(j["forged"]["ok"], true);
  EXPECT_EQ(j["forged"]["proposal"], 1);
  EXPECT_EQ(a4ps("tool run " + img + code).code, 1);  // proposed is not registered
  ASSERT_EQ(a4ps("approvals approve " + img + " 1 --reason 'reviewed'").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + img + " 1").code, 0);
  r = a4ps("tool run " + img + code);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "'hello-world'\n");
  r = a4ps("tool run " + img + " \"from a4ps_tools import slugify; slugify('A B', '_')\" --sandbox bwrap");
  EXPECT_EQ(r.out, "'a_b'\n");

  // A second version, its diff, and a rollback that is a proposal too.
  std::ofstream(d / "tests.py") << "assert slugify('a b', '-') == 'b-a'\n";
  // The script's first answer does not reverse: the forge reads the failure and its second answer passes.
  r = a4ps("--json tool forge " + img + " --name slugify --params arg1,sep --doc 'words reversed' --tests " +
           q(d / "tests.py") + " --sandbox bwrap --model scripted:" + q(d / "model.jsonl"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  j = json::parse(r.out);
  ASSERT_EQ(j["attempts"].size(), 2u);
  EXPECT_NE(j["attempts"][0]["error"].get<std::string>().find("AssertionError"), std::string::npos);
  EXPECT_EQ(j["proposal"], 2);
  ASSERT_EQ(a4ps("approvals approve " + img + " 2 --reason ok").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + img + " 2").code, 0);
  r = a4ps("tool diff " + img + " slugify 1 2");
  EXPECT_NE(r.out.find("+    return sep.join(reversed(arg1.lower().split()))"), std::string::npos) << r.out;
  r = a4ps("--json tool rollback " + img + " slugify --to 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["proposal"], 3);
  ASSERT_EQ(a4ps("approvals approve " + img + " 3 --reason 'v2 broke urls'").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + img + " 3").code, 0);
  EXPECT_EQ(test::a4ps_json("tool show " + img + " slugify")["version"], 3);
  EXPECT_EQ(a4ps("tool run " + img + code).out, "'hello-world'\n");
  EXPECT_EQ(a4ps("image check " + img).code, 0);
}

// The agent's own loop: the act graph runs the code, forges what is missing, waits for
// the human, registers the tool and runs the original code again by itself.
TEST_F(ToolCli, TheActGraphReRunsTheCodeAfterApproval) {
  // No single quotes in the code: the shell command quotes with them.
  json input = {{"code", "slugify(\"Hello World\", sep=\"-\")"},
                {"model", "scripted:" + (d / "model.jsonl").string()},
                {"sandbox", "bwrap"}};
  json r = test::a4ps_json("thread run " + img + " --graph act --thread t --input " + q(input.dump()));
  ASSERT_EQ(r["status"], "interrupted");
  EXPECT_EQ(r["state"]["result"]["error_type"], "NameError");
  EXPECT_EQ(r["interrupts"][0]["payload"]["proposal"], 1);
  ASSERT_EQ(a4ps("approvals approve " + img + " 1 --reason 'reviewed'").code, 0);
  r = test::a4ps_json("thread resume " + img + " t");
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(r["state"]["result"]["value"], "'hello-world'");
  EXPECT_EQ(test::a4ps_json("tool show " + img + " slugify")["version"], 1);
}

// When gVisor does not work, doctor says why, and agent code runs in bubblewrap with one
// line that says so: never a weaker sandbox in silence. A runsc that fails stands in.
TEST_F(ToolCli, AWeakerSandboxIsNeverChosenSilently) {
  fs::create_directories(d / "bin");
  std::ofstream(d / "bin" / "runsc") << "#!/bin/sh\necho 'runsc: simulated failure for the test' >&2\nexit 1\n";
  fs::permissions(d / "bin" / "runsc", fs::perms::owner_all | fs::perms::others_exec | fs::perms::others_read);
  const std::string path = "PATH=" + q(d / "bin") + ":\"$PATH\" ";
  auto r = test::run(path + A4PS_BIN + " doctor");
  EXPECT_NE(r.out.find("simulated failure for the test"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("agent code will run in: bwrap"), std::string::npos) << r.out;
  r = test::run(path + A4PS_BIN + " tool run " + img + " '6 * 7'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "42\n");
  EXPECT_NE(r.err.find("agent code runs in bwrap, because gvisor failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("simulated failure"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace a4ps
