// End-to-end: approvals and the codex through the CLI.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace a4ps
