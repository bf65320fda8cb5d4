// Memory: chunking, full-text and vector ranking, their fusion, atomicity, read-only search,
// and embeddings from the real llama.cpp backend on a synthetic model.
#include "memory/memory.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "image/image.h"
#include "image/sqlite.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "memory/internal.h"
#include "memory/store.h"
#include "testutil.h"

namespace a4ps::memory {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

// A FAKE embedder for tests: a bag of "concepts" hashed into 64 dimensions, where a few
// synonyms share a concept. It makes "car" and "automobile" similar without sharing a word,
// which no keyword index can do. It knows nothing else about language.
std::vector<float> fake_embed(const std::string& text) {
  static const std::map<std::string, std::string> concept_of = {
      {"car", "car"}, {"cars", "car"}, {"automobile", "car"}, {"vehicle", "car"},
      {"cat", "cat"}, {"feline", "cat"}, {"kitten", "cat"},
  };
  std::vector<float> v(64, 0.f);
  std::string w;
  auto flush = [&] {
    if (w.empty()) return;
    auto it = concept_of.find(w);
    v[std::hash<std::string>{}(it == concept_of.end() ? w : it->second) % 64] += 1.f;
    w.clear();
  };
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else flush();
  }
  return v;
}
Embedder fake() { return Embedder(fake_embed, "fake-bag-of-words"); }

struct MemoryTest : ::testing::Test {
  TempDir dir;
  fs::path path = dir / "m.a4ps";
  image::Image img = image::Image::create(path, {.sync = image::Sync::Normal});
};

std::string words(int n, const std::string& w = "word") {
  std::string s;
  for (int i = 0; i < n; ++i) s += w + std::to_string(i) + (i % 12 == 11 ? ". " : " ");
  return s;
}

// ---- chunking ---------------------------------------------------------------

TEST(Chunk, ShortTextIsOneTrimmedChunk) {
  auto c = chunk_text("  \n hello world.\n\n ");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], "hello world.");
  EXPECT_TRUE(chunk_text(" \n\t ").empty());
}

TEST(Chunk, PrefersParagraphBreaksAndStaysUnderTheLimit) {
  std::string p1(500, 'a'), p2(400, 'b'), p3(500, 'c');
  for (auto* p : {&p1, &p2, &p3})
    for (size_t i = 40; i < p->size(); i += 41) (*p)[i] = ' ';
  auto c = chunk_text(p1 + "\n\n" + p2 + "\n\n" + p3, {.max_chars = 1200, .overlap = 0});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], p1 + "\n\n" + p2);  // ends where the second paragraph ends
  EXPECT_EQ(c[1], p3);
}

TEST(Chunk, PrefersSentenceEndsOverSpaces) {
  auto c = chunk_text(words(200), {.max_chars = 300, .overlap = 0});  // a sentence every 12 words
  ASSERT_GT(c.size(), 3u);
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_LE(c[i].size(), 300u);
    if (i + 1 < c.size()) {
      EXPECT_EQ(c[i].back(), '.') << c[i];
    }
  }
}

TEST(Chunk, OverlapRepeatsTheEndOfEachChunkAndLosesNoWord) {
  std::string s = words(400);
  auto c = chunk_text(s, {.max_chars = 200, .overlap = 60});
  ASSERT_GT(c.size(), 5u);
  std::set<std::string> seen;
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_LE(c[i].size(), 200u);
    std::istringstream in(c[i]);
    for (std::string w; in >> w;) seen.insert(w);
    if (i > 0) {  // the next chunk starts with a word from the previous chunk's last 60 bytes
      std::string first = c[i].substr(0, c[i].find(' '));
      EXPECT_NE(c[i - 1].substr(c[i - 1].size() - std::min<size_t>(c[i - 1].size(), 70)).find(first), std::string::npos)
          << "chunk " << i << " does not overlap the previous one";
    }
  }
  std::istringstream all(s);
  for (std::string w; all >> w;) EXPECT_TRUE(seen.count(w)) << w << " lost";
}

TEST(Chunk, NeverSplitsAUtf8Character) {
  std::string s;
  for (int i = 0; i < 700; ++i) s += i % 3 ? "é" : "日";  // no spaces at all
  auto c = chunk_text(s, {.max_chars = 100, .overlap = 20});
  ASSERT_GT(c.size(), 10u);
  for (auto& x : c) {
    EXPECT_LE(x.size(), 100u);
    EXPECT_TRUE(utf8_valid(x)) << x;
  }
}

TEST(Chunk, RefusesNonsenseOptions) {
  EXPECT_THROW(chunk_text("x", {.max_chars = 100, .overlap = 100}), Error);
  EXPECT_THROW(chunk_text("x", {.max_chars = 4, .overlap = 0}), Error);
}

TEST(Chunk, Utf8Validation) {
  size_t bad = 0;
  EXPECT_TRUE(utf8_valid("plain, é, 日本, 🦉"));
  EXPECT_FALSE(utf8_valid(std::string("ab\xC3", 3), &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));      // overlong
  EXPECT_FALSE(utf8_valid("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(utf8_valid("\xFF"));
}

// ---- adding -----------------------------------------------------------------

TEST_F(MemoryTest, AddTextStoresChunksWithVectorsAndMetaInOneGo) {
  int64_t events = img.info().counts.events;
  auto ids = add_text(img, words(300), "notes.md", fake(), {.max_chars = 400, .overlap = 50});
  ASSERT_GT(ids.size(), 3u);
  EXPECT_EQ(img.info().counts.memories, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(img.info().counts.events, events + static_cast<int64_t>(ids.size()));  // one memory.added each
  image::sql::Stmt st(img.db(), "SELECT source, meta, embedding FROM memories WHERE id = ?");
  st.bind(1, ids[1]);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.text(0), "notes.md");
  auto meta = nlohmann::json::parse(st.text(1));
  EXPECT_EQ(meta["chunk"], 1);
  EXPECT_EQ(meta["chunks"], ids.size());
  EXPECT_EQ(meta["dim"], 64);
  EXPECT_EQ(meta["embedder"], "fake-bag-of-words");
  EXPECT_EQ(st.blob(2).size(), 64u * 4);
  EXPECT_EQ(count_vectors(img, "fake-bag-of-words"), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(count_vectors(img, "other"), 0);
}

TEST_F(MemoryTest, VectorsAreFloat32LittleEndian) {
  std::string b = detail::encode_vector({1.0f, -2.5f});
  EXPECT_EQ(b, std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0", 8));
  EXPECT_EQ(detail::decode_vector(b), (std::vector<float>{1.0f, -2.5f}));
}

TEST_F(MemoryTest, WithoutAnEmbedderStoresTextOnly) {
  auto ids = add_text(img, "just text", "t", {});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(count_vectors(img), 0);
  std::function<std::vector<float>(const std::string&)> none;
  EXPECT_FALSE(Embedder(none));  // an empty std::function is no embedder
  EXPECT_FALSE(Embedder(nullptr));
  add_text(img, "more text", "t", none);
  EXPECT_EQ(count_vectors(img), 0);
}

TEST_F(MemoryTest, AFailingEmbedderLeavesNothingBehind) {
  add_text(img, "an earlier memory", "before", fake());
  auto before = img.info();
  int calls = 0;
  Embedder flaky([&](const std::string& t) {
    if (++calls == 3) throw std::runtime_error("model crashed");
    return fake_embed(t);
  }, "flaky");
  try {
    add_text(img, words(300), "doc", flaky, {.max_chars = 300, .overlap = 0});
    FAIL() << "no error";
  } catch (const EmbedError& e) {
    EXPECT_NE(std::string(e.what()).find("chunk 3 of"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model crashed"), std::string::npos) << e.what();
  }
  auto after = img.info();
  EXPECT_EQ(after.counts.memories, before.counts.memories);
  EXPECT_EQ(after.counts.events, before.counts.events);
  EXPECT_EQ(after.head_hash, before.head_hash);
  // Vectors of changing size are refused too.
  int n = 0;
  Embedder ragged([&](const std::string&) { return std::vector<float>(++n == 1 ? 8 : 9, 1.f); });
  EXPECT_THROW(add_text(img, words(300), "doc", ragged, {.max_chars = 300, .overlap = 0}), EmbedError);
  EXPECT_EQ(img.info().counts.memories, before.counts.memories);
}

TEST_F(MemoryTest, RefusesEmptyAndNonUtf8Text) {
  EXPECT_THROW(add_text(img, "  \n ", "s", {}), Error);
  EXPECT_THROW(add_text(img, "bad \xFF byte", "s", {}), Error);
  EXPECT_THROW(add_text(img, "fine", "", {}), Error);
  EXPECT_EQ(img.info().counts.memories, 0);
}

TEST_F(MemoryTest, AddFileRefusesWhatIsNotText) {
  std::ofstream(dir / "bin", std::ios::binary).write("GGUF\0\0\x01", 7);
  std::ofstream(dir / "latin1.txt", std::ios::binary) << "caf\xE9";
  std::ofstream(dir / "ok.txt") << "An owl hunts at night.\n";
  auto msg = [&](const fs::path& p) { return test::error_of([&] { add_file(img, p, {}); }); };
  EXPECT_NE(msg(dir / "missing.txt").find("no file"), std::string::npos);
  EXPECT_NE(msg(dir / "bin").find("looks binary"), std::string::npos);
  EXPECT_NE(msg(dir / "latin1.txt").find("not UTF-8"), std::string::npos);
  EXPECT_NE(msg(dir.path).find("is a directory"), std::string::npos);
  EXPECT_EQ(img.info().counts.memories, 0);
  auto ids = add_file(img, dir / "ok.txt", {});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(search(img, "owl", {})[0].source, (dir / "ok.txt").string());
}

// ---- searching --------------------------------------------------------------

void add_corpus(image::Image& img, const Embedder& e) {
  add_text(img, "The automobile would not start on a cold winter morning; the battery was flat.", "garage.txt", e);
  add_text(img, "Owls hunt at night. Their feathers make their flight almost silent.", "birds.txt", e);
  add_text(img, "The tax return is due in April; keep the receipts for five years.", "tax.txt", e);
  add_text(img, "A kitten sleeps most of the day and plays at dusk.", "pets.txt", e);
}

TEST_F(MemoryTest, FullTextFindsTheRightChunkFirst) {
  add_corpus(img, {});
  auto hits = search(img, "when is the tax return due?", {}, 3);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].source, "tax.txt");
  EXPECT_GT(hits[0].fts_rank, 0);
  EXPECT_EQ(hits[0].vec_rank, 0);
  EXPECT_NE(hits[0].text.find("receipts"), std::string::npos);
  // porter stemming: "hunting" finds "hunt"
  EXPECT_EQ(search(img, "hunting owl", {}, 1).at(0).source, "birds.txt");
  EXPECT_TRUE(search(img, "zebra", {}, 3).empty());
}

TEST_F(MemoryTest, VectorsRescueAQueryThatSharesNoWord) {
  add_corpus(img, fake());
  EXPECT_TRUE(search(img, "car", {}, 3).empty());  // no keyword overlap: full text alone finds nothing
  auto hits = search(img, "car", fake(), 3);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].source, "garage.txt");
  EXPECT_EQ(hits[0].fts_rank, 0);
  EXPECT_EQ(hits[0].vec_rank, 1);
  EXPECT_NEAR(hits[0].score, 1.0 / 61, 1e-12);
  EXPECT_EQ(search(img, "feline", fake(), 1).at(0).source, "pets.txt");
}

TEST_F(MemoryTest, FusionPutsWhatBothListsAgreeOnFirst) {
  add_corpus(img, fake());
  auto hits = search(img, "vehicle battery", fake(), 4);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].source, "garage.txt");
  EXPECT_EQ(hits[0].fts_rank, 1);
  EXPECT_EQ(hits[0].vec_rank, 1);
  EXPECT_NEAR(hits[0].score, 2.0 / 61, 1e-12);
  for (size_t i = 1; i < hits.size(); ++i) EXPECT_LE(hits[i].score, hits[i - 1].score);
  // A different rrf_k changes the scores, not who wins.
  auto h2 = search(img, "vehicle battery", fake(), SearchOptions{.k = 1, .rrf_k = 10});
  EXPECT_NEAR(h2.at(0).score, 2.0 / 11, 1e-12);
}

TEST_F(MemoryTest, VectorsOfAnotherEmbedderAreNotCompared) {
  add_corpus(img, fake());
  Embedder other([](const std::string& t) { return fake_embed(t); }, "another-model");
  Embedder wider([](const std::string& t) { auto v = fake_embed(t); v.resize(128); return v; }, "fake-bag-of-words");
  EXPECT_TRUE(search(img, "car", other, 3).empty());
  EXPECT_TRUE(search(img, "car", wider, 3).empty());  // same name, other dimension
}

TEST_F(MemoryTest, AnyQueryStringIsSafe) {
  add_corpus(img, fake());
  for (std::string q : std::vector<std::string>{"what's \"x\" AND (", "\"", "*", "NEAR(a b", "-", "^owl", "col:owl", "AND", "OR NOT", "()", "'",
                        "日本語", "🦉 owls?", "a\"b\"c", std::string(5000, '('), ""}) {
    EXPECT_NO_THROW(search(img, q, fake(), 3)) << q;
    EXPECT_NO_THROW(search(img, q, {}, 3)) << q;
  }
  EXPECT_EQ(search(img, "owls' \"flight\" AND (", {}, 1).at(0).source, "birds.txt");
  EXPECT_THROW(search(img, "bad \xFF", {}, 3), Error);
}

TEST_F(MemoryTest, AFailingQueryEmbeddingIsAnEmbedError) {
  add_corpus(img, fake());
  Embedder broken([](const std::string&) -> std::vector<float> { throw Error("no embeddings here"); }, "fake-bag-of-words");
  EXPECT_THROW(search(img, "car", broken, 3), EmbedError);
}

TEST_F(MemoryTest, SearchWorksOnAReadOnlyImage) {
  add_corpus(img, fake());
  img = image::Image::create(dir / "other.a4ps");  // close the writer
  auto ro = image::Image::open(path, {.read_only = true});
  auto hits = search(ro, "car", fake(), 2);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].source, "garage.txt");
  EXPECT_EQ(sources(ro).size(), 4u);
  EXPECT_THROW(add_text(ro, "x", "y", {}), Error);
}

TEST_F(MemoryTest, SourcesSummariseWhatWasAdded) {
  add_text(img, words(300), "a.md", fake(), {.max_chars = 400, .overlap = 0});
  add_text(img, "short", "b", {});
  auto s = sources(img);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].source, "a.md");
  EXPECT_GT(s[0].chunks, 3);
  EXPECT_EQ(s[0].embedded, s[0].chunks);
  EXPECT_EQ(s[0].embedder, "fake-bag-of-words");
  EXPECT_EQ(s[1].chunks, 1);
  EXPECT_EQ(s[1].bytes, 5);
  EXPECT_EQ(s[1].embedded, 0);
}

// The sources of some hits.
std::set<std::string> sources_of(const std::vector<Hit>& hits) {
  std::set<std::string> got;
  for (auto& x : hits) got.insert(x.source);
  return got;
}

// An index over 300 generated rows and the small corpus agrees with the exact scan, and a
// row added after it was built is found.
void expect_index_follows_scan(image::Image& img, const Embedder& e, VectorIndex index) {
  {
    image::Image::Tx tx(img);
    for (int i = 0; i < 300; ++i) add_text(img, words(8, "t" + std::to_string(i) + "x"), "gen" + std::to_string(i), e);
    add_corpus(img, e);
    tx.commit();
  }
  for (auto q : {"car", "kitten", "t17x3 t17x5"}) {
    auto a = search(img, q, e, SearchOptions{.k = 1, .index = VectorIndex::BruteForce});
    auto b = search(img, q, e, SearchOptions{.k = 1, .index = index});
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(a[0].id, b[0].id) << q;
  }
  add_text(img, "A feline stalks the garden.", "late.txt", e);
  EXPECT_TRUE(sources_of(search(img, "cat", e, SearchOptions{.k = 2, .index = index})).count("late.txt"));
}

TEST_F(MemoryTest, HnswIndexAgreesWithTheScanAndSeesNewRows) { expect_index_follows_scan(img, fake(), VectorIndex::Hnsw); }

TEST_F(MemoryTest, QuantizedIndexAgreesWithTheScanAndFollowsTheImage) {
  expect_index_follows_scan(img, fake(), VectorIndex::Quantized);
  // Deleted rows are never returned.
  SearchOptions quant{.k = 2, .index = VectorIndex::Quantized};
  image::sql::exec(img.db(), "DELETE FROM memories WHERE source = 'late.txt'");
  img.append_event("test.deleted", "test", nlohmann::json::object());  // moves the head, as every change through the image does
  EXPECT_FALSE(sources_of(search(img, "cat", fake(), quant)).count("late.txt"));
}

// ---- ranking a larger memory -------------------------------------------------
//
// Chunks shaped like text as far as ranking cares: 20 to 40 words (one in ten only 1 to 4)
// drawn from a Zipf-like vocabulary of 3,000, so a few words are in most chunks (what makes
// scoring every match slow) and most words are rare.
struct ZipfCorpus {
  std::vector<std::string> vocab, docs;
  std::mt19937 rng{5};
  explicit ZipfCorpus(size_t n) {
    for (size_t i = 0; i < 3000; ++i) {
      std::string w;
      for (size_t k = 0, len = 3 + rng() % 6; k < len; ++k) w += static_cast<char>('a' + rng() % 26);
      vocab.push_back(w);
    }
    std::vector<double> weight(vocab.size());
    for (size_t i = 0; i < weight.size(); ++i) weight[i] = 1.0 / static_cast<double>(i + 1);
    std::discrete_distribution<size_t> pick(weight.begin(), weight.end());
    for (size_t d = 0; d < n; ++d) {
      std::string s;
      int len = d % 10 == 0 ? 1 + static_cast<int>(rng() % 4) : 20 + static_cast<int>(rng() % 20);  // some very short chunks
      for (int k = 0; k < len; ++k) s += vocab[pick(rng)] + (k % 9 == 8 ? ". " : " ");
      docs.push_back(s);
    }
  }
  // words words taken from a random chunk (repeats and frequent words included, as people type)
  std::string query(int words) {
    std::istringstream in(docs[rng() % docs.size()]);
    std::vector<std::string> ws;
    for (std::string w; in >> w;) ws.push_back(w);
    std::string q;
    for (int k = 0; k < words; ++k) q += ws[rng() % ws.size()] + " ";
    return q;
  }
};

// A FAKE embedder: a signed random projection of the bag of words (as the bench's), so
// chunks sharing words are close and nothing else is.
Embedder projection(size_t dim) {
  return Embedder(
      [dim](const std::string& text) {
        std::vector<float> v(dim, 0.f);
        std::istringstream in(text);
        for (std::string w; in >> w;) {
          uint64_t h = std::hash<std::string>{}(w);
          for (int k = 0; k < 8; ++k) {
            h = h * 6364136223846793005ULL + 1442695040888963407ULL;
            v[(h >> 33) % dim] += (h >> 63) ? 1.f : -1.f;
          }
        }
        return v;
      },
      "fake-projection");
}

TEST_F(MemoryTest, TopKRankingIsFtsFivesOrderByRank) {
  ZipfCorpus corpus(3000);
  {
    image::Image::Tx tx(img);
    for (size_t d = 0; d < corpus.docs.size(); ++d) add_text(img, corpus.docs[d], "doc" + std::to_string(d), {});
    tx.commit();
  }
  std::vector<std::string> queries = {corpus.vocab[0], corpus.vocab[0] + " " + corpus.vocab[0], "nowordlikethis " + corpus.vocab[2],
                                      corpus.vocab[5] + "_" + corpus.vocab[9] + " " + corpus.vocab[1], "\"" + corpus.vocab[3] + "\" OR"};
  for (int i = 0; i < 40; ++i) queries.push_back(corpus.query(1 + i % 6));
  auto compare = [&](const char* when) {
    int64_t rows = 0, scored = 0;
    for (const std::string& q : queries) {
      std::string fq = detail::fts_query(q);
      for (int n : {1, 10, 50, 5000}) {
        store::FtsStats st;
        auto fast = store::fts_top(img, fq, n, &st);
        auto sorted = store::fts_top_sorted(img, fq, n);
        EXPECT_EQ(fast, sorted) << when << ": " << q << " n=" << n;  // the same ids, ranks and order
        if (n == 10) rows += st.rows, scored += st.scored;
      }
      // and search() over either ranking gives the same hits
      auto a = detail::search(img, q, {}, SearchOptions{.k = 10}, detail::FtsRanking::TopK);
      auto b = detail::search(img, q, {}, SearchOptions{.k = 10}, detail::FtsRanking::SortAll);
      ASSERT_EQ(a.size(), b.size()) << q;
      for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, b[i].id) << q;
    }
    // The point of it: most matching rows are never scored.
    EXPECT_LT(scored * 3, rows) << when << ": scored " << scored << " of " << rows;
  };
  compare("as added");
  // Deleted rows change the statistics BM25 uses (rows, lengths, document frequencies).
  image::sql::exec(img.db(), "DELETE FROM memories WHERE id % 7 = 0");
  compare("after deletes");
}

TEST_F(MemoryTest, QuantizedIndexRecallOnALargerMemory) {
  ZipfCorpus corpus(4000);
  Embedder emb = projection(96);
  {
    image::Image::Tx tx(img);
    for (size_t d = 0; d < corpus.docs.size(); ++d) add_text(img, corpus.docs[d], "doc" + std::to_string(d), emb);
    tx.commit();
  }
  size_t found = 0, total = 0;
  for (int i = 0; i < 40; ++i) {
    auto q = emb(corpus.query(5));
    std::set<int64_t> exact;
    for (auto& [id, sim] : detail::nearest(img, q, emb.name, 10, VectorIndex::BruteForce)) exact.insert(id);
    for (auto& [id, sim] : detail::nearest(img, q, emb.name, 10, VectorIndex::Quantized)) found += exact.count(id);
    total += exact.size();
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(total), 0.97) << found << " of " << total;
}

// ---- the real model runtime ---------------------------------------------------

TEST(MemoryLlama, EmbeddingsFromASyntheticGgufAreStoredAndSearched) {
  // Random weights: this shows the mechanism works end to end, nothing about quality.
  fs::path gguf = test::model("synthetic-llama-tiny.gguf");
  ASSERT_TRUE(fs::exists(gguf)) << "run the synthetic_models test first";
  TempDir dir;
  auto img = image::Image::create(dir / "m.a4ps");
  llm::ModelManager mm;
  Embedder emb = model_embedder(gguf.string(), mm);
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb.name.rfind("gguf:", 0), 0u);
  add_corpus(img, emb);
  uint32_t dim = llm::read_model_info(gguf).embedding;
  image::sql::Stmt st(img.db(), "SELECT length(embedding), json_extract(meta, '$.dim') FROM memories");
  int rows = 0;
  while (st.step()) {
    EXPECT_EQ(st.i64(0), int64_t{dim} * 4);
    EXPECT_EQ(st.i64(1), dim);
    ++rows;
  }
  EXPECT_EQ(rows, 4);
  auto hits = search(img, "owls feathers", emb, 4);
  ASSERT_EQ(hits.size(), 4u);  // every stored vector is a candidate
  for (auto& h : hits) EXPECT_GT(h.vec_rank, 0);
  EXPECT_EQ(hits[0].source, "birds.txt");  // the only full-text match, whatever its vector rank
  // Another model's vectors are not comparable: a different name, nothing to compare with.
  Embedder other = model_embedder(test::model("synthetic-llama-tiny-seed2.gguf").string(), mm);
  EXPECT_NE(other.name, emb.name);
  EXPECT_EQ(count_vectors(img, other.name), 0);
  for (auto& h : search(img, "owls", other, 4)) EXPECT_EQ(h.vec_rank, 0);
  EXPECT_THROW(model_embedder((dir / "nope.gguf").string(), mm), Error);
  EXPECT_FALSE(model_embedder("", mm));
}

}  // namespace
}  // namespace a4ps::memory
