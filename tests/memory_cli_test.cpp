// End-to-end: `a4ps memory add | search | ls` as a user runs them, bad input included.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace a4ps {
namespace {

using nlohmann::json;
using test::a4ps;
using test::a4ps_json;
using test::q;
namespace fs = std::filesystem;

class MemoryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("A4PS_MODEL");  // the image decides, not whoever runs the tests
    img = q(d / "a.a4ps");
    ASSERT_EQ(a4ps("image init " + img).code, 0);
    std::ofstream(d / "owls.md") << "# Owls\n\nOwls hunt at night. Their feathers make their flight almost silent.\n\n"
                                 << "A barn owl can find a mouse by sound alone.\n";
    std::ofstream(d / "tax.txt") << "The tax return is due in April; keep the receipts for five years.\n";
  }
  json info() { return a4ps_json("image info " + img); }
  // Exactly one line on stderr, naming what was wrong; the image untouched.
  void expect_refused(const std::string& args, const std::string& says) {
    json before = info();
    auto r = a4ps("memory add " + img + " " + args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    json after = info();
    EXPECT_EQ(after["counts"], before["counts"]);
    EXPECT_EQ(after["events"], before["events"]);
  }
  test::TempDir d;
  std::string img;
};

TEST_F(MemoryCli, AddSearchAndListWithoutAModel) {
  auto r = a4ps("memory add " + img + " " + q(d / "owls.md") + " " + q(d / "tax.txt") + " --text 'The kitten sleeps all day.' --source pets");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("added 3 chunks (full-text only)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("memory: no embeddings (no model"), std::string::npos) << r.err;
  EXPECT_EQ(info()["counts"]["memories"], 3);

  json hits = a4ps_json("memory search " + img + " 'when is my tax return due' -k 2");
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["source"], (d / "tax.txt").string());
  EXPECT_EQ(hits[0]["rank"], 1);
  EXPECT_GT(hits[0]["fts_rank"].get<int>(), 0);
  EXPECT_EQ(hits[0]["vec_rank"], 0);
  EXPECT_NE(hits[0]["text"].get<std::string>().find("receipts"), std::string::npos);

  r = a4ps("memory search " + img + " 'barn owl' ");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("1. ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("owls.md"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("barn owl"), std::string::npos) << r.out;

  r = a4ps("memory search " + img + " 'what'\"'\"'s \"x\" AND ('");  // FTS5 syntax in the query is just text
  EXPECT_EQ(r.code, 0) << r.err;
  r = a4ps("memory search " + img + " zebra");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("no memories match"), std::string::npos);

  json ls = a4ps_json("memory ls " + img);
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[2]["source"], "pets");
  EXPECT_EQ(ls[2]["chunks"], 1);
  r = a4ps("memory ls " + img);
  EXPECT_NE(r.out.find("text only"), std::string::npos) << r.out;
}

TEST_F(MemoryCli, BadInputIsOneLineAndChangesNothing) {
  std::ofstream(d / "blob.bin", std::ios::binary).write("\x7f" "ELF\0\0\0\x01", 8);
  std::ofstream(d / "latin1.txt", std::ios::binary) << "caf\xE9\n";
  expect_refused(q(d / "missing.txt"), "no file");
  expect_refused(q(d / "owls.md") + " " + q(d / "blob.bin"), "looks binary");  // the good file is not added either
  expect_refused(q(d / "latin1.txt"), "not UTF-8");
  expect_refused("--text '   '", "the text is empty");
  expect_refused("", "nothing to add");
  expect_refused("--text hello --max-chars 100 --overlap 100", "overlap");
  auto r = a4ps("memory search " + q(d / "nope.a4ps") + " owls");
  EXPECT_EQ(r.code, 1);
}

TEST_F(MemoryCli, AModelWithoutEmbeddingsFallsBackToFullText) {
  std::ofstream(d / "s.jsonl") << json{{"text", "hi"}}.dump() << "\n";
  auto r = a4ps("memory add " + img + " " + q(d / "owls.md") + " --model scripted:" + q(d / "s.jsonl"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("memory: no embeddings ("), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("using full-text search only"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  json hits = a4ps_json("memory search " + img + " owls --model scripted:" + q(d / "s.jsonl"));
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["vec_rank"], 0);
}

TEST_F(MemoryCli, EmbeddingsFromTheImagesBaseModel) {
  // Synthetic weights: this checks the plumbing (vectors stored, searched, model matched), not quality.
  fs::path gguf = test::model("synthetic-llama-tiny.gguf");
  ASSERT_TRUE(fs::exists(gguf));
  std::string img2 = q(d / "b.a4ps");
  ASSERT_EQ(a4ps("image init " + img2 + " --base-model " + q(gguf)).code, 0);
  auto r = a4ps("memory add " + img2 + " " + q(d / "owls.md") + " " + q(d / "tax.txt"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("with embeddings (gguf:"), std::string::npos) << r.out;
  json ls = a4ps_json("memory ls " + img2);
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0]["embedded"], ls[0]["chunks"]);
  json hits = a4ps_json("memory search " + img2 + " 'receipts' -k 2");
  ASSERT_EQ(hits.size(), 2u);  // both chunks are vector candidates; only one matches the words
  EXPECT_EQ(hits[0]["source"], (d / "tax.txt").string());
  EXPECT_GT(hits[0]["vec_rank"].get<int>(), 0);
  EXPECT_GT(hits[0]["fts_rank"].get<int>(), 0);
  // Another model cannot read these vectors: full text only, said once.
  r = a4ps("memory search " + img2 + " receipts --model " + q(test::model("synthetic-llama-tiny-seed2.gguf")));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("another model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace a4ps
