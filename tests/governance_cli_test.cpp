// End-to-end: approvals and the codex through the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "codex/codex.h"
#include "image/image.h"
#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
using test::a4ps;
using test::q;

TEST(GovernanceCli, AHumanDecidesProposalsFromTheCommandLine) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  int64_t id = 0;
  {
    image::Image im = image::Image::create(d / "a.a4ps");
    id = im.propose("tool.register", "add", {{"source", "def add(a, b): return a + b"}});
  }
  auto r = a4ps("approvals ls " + img);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("#1  pending  tool.register  add"), std::string::npos) << r.out;
  r = a4ps("approvals approve " + img + " " + std::to_string(id) + " --reason 'tests pass' --reviewer alice");
  ASSERT_EQ(r.code, 0) << r.err;
  json p = json::parse(a4ps("--json approvals show " + img + " 1").out);
  EXPECT_EQ(p["status"], "approved");
  EXPECT_EQ(p["reviewer"], "human:alice");
  EXPECT_EQ(p["reason"], "tests pass");
  r = a4ps("approvals reject " + img + " 1 --reason 'changed my mind'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is not pending"), std::string::npos) << r.err;
  r = a4ps("approvals show " + img + " 9");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no proposal 9"), std::string::npos) << r.err;
  EXPECT_EQ(a4ps("approvals ls " + img).out, "nothing waits for a decision\n");
  EXPECT_EQ(a4ps("image check " + img).code, 0);  // the decision is in the chained log
}

TEST(GovernanceCli, CodexCheckReportsTheRuleLineAndColumn) {
  test::TempDir d;
  std::ofstream(d / "ok.toml") << "[[principles]]\nname = \"care\"\ntext = \"be kind\"\n\n"
                                  "[[rules]]\nname = \"offline\"\ncheck = 'kind == \"sandbox.run\" -> payload.network == \"none\"'\n";
  auto r = a4ps("codex check " + q(d / "ok.toml"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 principles, 1 rules"), std::string::npos);
  std::ofstream(d / "bad.toml") << "[[rules]]\nname = \"oops\"\ncheck = 'once(kind == \"a\"'\n";
  r = a4ps("codex check " + q(d / "bad.toml"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "a4ps: error: " + (d / "bad.toml").string() +
                       ": rule 'oops': line 1, column 17: expected ')', found the end of the rule\n");
  r = a4ps("--json codex show");
  EXPECT_EQ(json::parse(r.out)["rules"], 5);
}

// The agent proposes a tool, the run stops for a human, each step its own process.
TEST(GovernanceCli, AProposedToolIsRegisteredOnlyAfterAHumanApproves) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  const std::string input = "'{\"name\": \"add\", \"source\": \"def add(a, b):\\n    return a + b\\n\"}'";
  json r = test::a4ps_json("thread run " + img + " --graph propose-tool --thread t --input " + input);
  ASSERT_EQ(r["status"], "interrupted");
  EXPECT_EQ(r["interrupts"][0]["payload"]["proposal"], 1);
  EXPECT_NE(r["interrupts"][0]["payload"]["summary"].get<std::string>().find("+    return a + b"), std::string::npos);
  // Resuming before anyone decided changes nothing: it waits again.
  EXPECT_EQ(test::a4ps_json("thread resume " + img + " t --value yes")["status"], "interrupted");
  EXPECT_EQ(test::a4ps_json("image info " + img)["counts"]["tools"], 0);
  ASSERT_EQ(a4ps("approvals approve " + img + " 1 --reason 'reviewed' --reviewer alice").code, 0);
  r = test::a4ps_json("thread resume " + img + " t");
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(r["state"]["version"], 1);
  image::Image im = image::Image::open(d / "a.a4ps", {.read_only = true});
  EXPECT_EQ(im.get(image::Kind::Tool, "add")->content, "def add(a, b):\n    return a + b\n");
  std::vector<std::string> kinds;
  for (auto& e : im.events()) kinds.push_back(e.kind);
  auto at = [&](const std::string& k) { return std::find(kinds.begin(), kinds.end(), k) - kinds.begin(); };
  EXPECT_LT(at("proposal.approved"), at("proposal.applied"));
  EXPECT_EQ(at("proposal.applied") + 1, at("tool.version_added"));
  EXPECT_TRUE(im.check().ok);
}

TEST(GovernanceCli, ARejectedToolIsNeverRegistered) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  test::a4ps_json("thread run " + img + " --graph propose-tool --thread t --input '{\"name\": \"rm\", \"source\": \"x\"}'");
  ASSERT_EQ(a4ps("approvals reject " + img + " 1 --reason 'deletes files'").code, 0);
  json r = test::a4ps_json("thread resume " + img + " t");
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(r["state"]["decision"], "rejected");
  EXPECT_EQ(test::a4ps_json("image info " + img)["counts"]["tools"], 0);
}

TEST(GovernanceCli, TheCodexChangesOnlyThroughAnApprovedAmendment) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  std::string toml = test::a4ps_json("codex show")["toml"];
  toml += "\n[[rules]]\nname = \"no-intruders\"\ncheck = 'actor != \"intruder\"'\n";
  std::ofstream(d / "new.toml") << toml;
  ASSERT_EQ(a4ps("codex amend " + img + " " + q(d / "new.toml") + " --reason 'keep intruders out'").code, 0);
  auto r = a4ps("approvals apply " + img + " 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is pending, not approved"), std::string::npos) << r.err;
  EXPECT_EQ(test::a4ps_json("codex show " + img)["rules"], 5);  // unchanged
  ASSERT_EQ(a4ps("approvals approve " + img + " 1 --reason ok").code, 0);
  ASSERT_EQ(a4ps("approvals apply " + img + " 1").code, 0);
  EXPECT_EQ(test::a4ps_json("codex show " + img)["rules"], 6);
  // The amended codex is what guards the image now: an event by "intruder" is refused.
  {
    image::Image im = image::Image::open(d / "a.a4ps");
    im.set_guard(codex::guard(codex::parse_codex(im.get(image::Kind::Codex, "codex")->content)));
    EXPECT_NE(test::error_of([&] { im.append_event("memory.added", "intruder", {{"id", 1}}); }).find("no-intruders"),
              std::string::npos);
    EXPECT_EQ(im.events().back().kind, "codex.violation");
  }
  auto v = test::a4ps_json("codex violations " + img);  // the human sees what was refused
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0]["refused"]["actor"], "intruder");
  EXPECT_NE(v[0]["refused"]["why"].get<std::string>().find("no-intruders"), std::string::npos);
  std::ofstream(d / "bad.toml") << "[[rules]]\nname = \"x\"\ncheck = 'kind =='\n";
  r = a4ps("codex amend " + img + " " + q(d / "bad.toml") + " --reason nope");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("the proposed codex: rule 'x': line 1, column 8"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace a4ps
