// End-to-end: graph threads through the CLI, each command its own process.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
using test::a4ps;
using test::q;

TEST(ThreadCli, InterruptInOneProcessResumeInAnother) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  json r = test::a4ps_json("thread run " + img + " --graph review --thread t1 --input '{\"topic\": \"owls\"}'");
  EXPECT_EQ(r["status"], "interrupted");
  EXPECT_EQ(r["interrupts"][0]["node"], "review");
  EXPECT_EQ(r["interrupts"][0]["payload"]["draft"], "A short note on owls.");
  json ls = test::a4ps_json("thread ls " + img);
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0]["status"], "interrupted");
  r = test::a4ps_json("thread resume " + img + " t1 --value yes");  // a new process, from the file alone
  EXPECT_EQ(r["status"], "done");
  EXPECT_EQ(r["state"]["verdict"], "yes");
  EXPECT_EQ(r["state"]["log"], json::array({"drafted", "reviewed", "published"}));
  auto text = a4ps("thread resume " + img + " t1 --value yes");
  EXPECT_EQ(text.code, 1);
  EXPECT_NE(text.err.find("is done, not waiting for a human"), std::string::npos) << text.err;
  EXPECT_EQ(a4ps("image check " + img).code, 0);
}

TEST(ThreadCli, HistoryStateForkAndEdit) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  json r = test::a4ps_json("thread run " + img + " --graph count --thread c --input '{\"n\": 3}'");
  ASSERT_EQ(r["status"], "done");
  EXPECT_EQ(r["state"]["i"], 3);
  json h = test::a4ps_json("thread history " + img + " c");
  ASSERT_EQ(h.size(), 4u);  // input + 3 ticks, newest first
  EXPECT_EQ(h[0]["state"]["i"], 3);
  std::string first_tick = h[2]["id"];
  EXPECT_EQ(test::a4ps_json("thread state " + img + " c " + first_tick)["state"]["i"], 1);
  // Fork from the first tick and change the goal there: the original is left alone.
  json f = test::a4ps_json("thread fork " + img + " c " + first_tick + " --to c2");
  EXPECT_EQ(f["thread"], "c2");
  test::a4ps_json("thread edit " + img + " c2 --set '{\"n\": 5}'");
  r = test::a4ps_json("thread resume " + img + " c2");
  EXPECT_EQ(r["state"]["i"], 5);
  EXPECT_EQ(test::a4ps_json("thread show " + img + " c")["latest"]["state"]["i"], 3);
  EXPECT_EQ(test::a4ps_json("thread history " + img + " c").size(), 4u);
}

TEST(ThreadCli, BadInputIsOneClearLine) {
  test::TempDir d;
  std::string img = q(d / "a.a4ps");
  ASSERT_EQ(a4ps("image init " + img).code, 0);
  for (auto [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"thread show " + img + " nope", "no thread 'nope'"},
           {"thread run " + img + " --input '[1'", "--input must be a JSON object"},
           {"thread state " + img + " nope 000000000001", "no thread 'nope'"},
           {"thread run " + img + " --graph count --thread x --input '{\"n\": 1000}' --step-limit 10",
            "hit the step limit of 10 steps"}}) {
    auto r = a4ps(args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace a4ps
