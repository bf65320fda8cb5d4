// The public memory API on real images: documents checked before anything is written,
// one transaction per add, fused search with and without embeddings (a synthetic GGUF).
#include <gtest/gtest.h>

#include <cstdlib>

#include "a4ps/memory.h"
#include "api/api_test_util.h"

namespace a4ps::apitest {
namespace {

class MemoryApi : public ::testing::Test {
 protected:
  void SetUp() override { setenv("A4PS_MODEL", "", 1); }  // no model unless a test names one
  test::TempDir d;
  std::vector<std::string> notices;
  MemoryAddOptions add_opts(const std::string& model = "") {
    return {.model = model, .on_notice = [this](const std::string& l) { notices.push_back(l); }};
  }
};

TEST_F(MemoryApi, FullTextWithoutAModelAndSourcesListed) {
  std::ofstream(d / "owls.md") << "The owl is a nocturnal bird.\n\nIt hunts mice at night.\n";
  auto docs = memory_documents({(d / "owls.md").string()}, {{"", "The quorum needs three approvers."}});
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1].source, "text");  // a text without a source gets one
  Image img = Image::open((d / "a.a4ps").string());
  auto r = add_memories(img, docs, add_opts());
  EXPECT_EQ(r.chunks, 2);
  EXPECT_EQ(r.embedder, "");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("no embeddings (no model"), std::string::npos) << notices[0];

  auto hits = search_memory(img, "how many approvers", {.k = 3});
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].source, "text");
  EXPECT_EQ(hits[0].fts_rank, 1);
  EXPECT_EQ(hits[0].vec_rank, 0);
  EXPECT_GT(hits[0].score, 0);

  auto srcs = memory_sources(img);
  ASSERT_EQ(srcs.size(), 2u);
  EXPECT_EQ(srcs[0].source, (d / "owls.md").string());
  EXPECT_EQ(srcs[0].chunks, 1);
  EXPECT_EQ(srcs[0].embedded, 0);
  EXPECT_EQ(srcs[1].bytes, static_cast<int64_t>(std::string("The quorum needs three approvers.").size()));
}

TEST_F(MemoryApi, EmbeddingsFromASyntheticModelAndTheirModelChecked) {
  Image img = Image::open((d / "a.a4ps").string());
  const std::string m = model("synthetic-llama-tiny.gguf").string();
  auto r = add_memories(img, {{"notes", "Owls hunt at night."}, {"codex", "Three approvers make a quorum."}}, add_opts(m));
  EXPECT_FALSE(r.embedder.empty());
  EXPECT_TRUE(notices.empty());
  auto hits = search_memory(img, "owls", {.k = 2, .model = m});
  ASSERT_EQ(hits.size(), 2u);  // random weights: the vector ranking says nothing, but both lists are fused
  EXPECT_TRUE(hits[0].vec_rank > 0 || hits[1].vec_rank > 0);
  std::vector<std::string> said;
  hits = search_memory(img, "owls", {.model = model("synthetic-llama-tiny-seed2.gguf").string(),
                                     .on_notice = [&](const std::string& l) { said.push_back(l); }});
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("another model"), std::string::npos) << said[0];
  for (auto& h : hits) EXPECT_EQ(h.vec_rank, 0);
}

TEST_F(MemoryApi, BadInputIsOneLineAndLeavesTheImageAsItWas) {
  EXPECT_NE(error_of([] { memory_documents({}, {}); }).find("nothing to add"), std::string::npos);
  EXPECT_NE(error_of([&] { memory_documents({(d / "none.md").string()}, {}); }).find("none.md"), std::string::npos);
  EXPECT_NE(error_of([] { memory_documents({}, {{"blank", "  \n\n "}}); }).find("nothing to add from blank"), std::string::npos);
  Image img = Image::open((d / "a.a4ps").string());
  const int64_t events = img.info().events;
  // The second text is not UTF-8: the first, already chunked, is not kept either.
  EXPECT_NE(error_of([&] { add_memories(img, {{"ok", "fine text"}, {"bad", std::string("caf\xe9 au lait")}}, add_opts()); }),
            "");
  EXPECT_EQ(img.info().memories, 0);
  EXPECT_EQ(img.info().events, events);
  EXPECT_NE(error_of([&] { search_memory(img, "x", {.k = 0}); }).find("k >= 1"), std::string::npos);
  Image ro = Image::open((d / "a.a4ps").string(), {.read_only = true});
  EXPECT_NE(error_of([&] { add_memories(ro, {{"ok", "fine"}}, add_opts()); }).find("read-only"), std::string::npos);
}

}  // namespace
}  // namespace a4ps::apitest
