// Each module owns its tables (image/schema.h): memory's full-text index and learn's
// judgements and golden set are made by those modules when an image opens read-write.
// Images written before that (the core schema of 803e8b5, kept verbatim in
// tests/fixtures/image_schema_v*.sql) still open, read-only and read-write, with their
// data intact, and are upgraded in place.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "graph/graph.h"
#include "image/image.h"
#include "image/schema.h"
#include "learn/learn.h"
#include "learn/store.h"
#include "memory/memory.h"
#include "memory/store.h"
#include "testutil.h"
#include "util/util.h"

namespace a4ps::image {
namespace {

using test::error_of;

std::string fixture(const std::string& name) {
  std::ifstream in(fs::path(A4PS_FIXTURES) / name);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_FALSE(s.str().empty()) << "missing fixture " << name;
  return s.str();
}

void sql(const fs::path& p, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

int64_t scalar(const fs::path& p, const std::string& query) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// An image as a4ps wrote it at schema `version` (1 or 2), with a memory, a tool and, at
// version 2, a judgement and a golden example.
void old_image(const fs::path& p, int version) {
  std::string schema = fixture("image_schema_v1.sql") + (version >= 2 ? fixture("image_schema_v2.sql") : "");
  sql(p, "PRAGMA application_id=" + std::to_string(kApplicationId) + "; PRAGMA journal_mode=WAL;" + schema +
             "PRAGMA user_version=" + std::to_string(version) + ";"
             "INSERT INTO meta VALUES('image_id','old-one'),('name','old'),('created_at','2026-01-01T00:00:00Z'),"
             "  ('head_seq','0');"
             "INSERT INTO memories(source,text,created_at) VALUES('notes.txt',"
             "  'The lighthouse keeper counts ships at dawn.','2026-01-01T00:00:00Z');"
             "INSERT INTO objects(kind,name,version,content,created_at) VALUES('tool','add',1,"
             "  'def add(a, b):\n    return a + b\n','2026-01-01T00:00:00Z');");
  if (version >= 2)
    sql(p, "INSERT INTO judgements(thread_id,judge,scores,total,created_at) VALUES('t1','ALFRED/x',"
           "  '{\"task_success\":5}',4.5,'2026-01-01T00:00:00Z');"
           "INSERT INTO golden(persona,judgement_id,messages,hash,created_at) VALUES('BRICK',1,"
           "  '[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]','h1',"
           "  '2026-01-01T00:00:00Z');");
}

// What the old image held, read through the modules.
void expect_data(const Image& img, bool golden) {
  auto hits = memory::search(img, "lighthouse keeper", memory::Embedder{}, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source, "notes.txt");
  ASSERT_TRUE(img.get(Kind::Tool, "add"));
  if (golden) {
    auto counts = learn::golden_counts(img);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"BRICK", 1}));
    ASSERT_EQ(learn::golden_set(img, "BRICK").size(), 1u);
    EXPECT_EQ(learn::golden_set(img, "BRICK")[0].messages.at(1).content, "hello");
  }
}

TEST(ModuleTables, ANewImageRecordsEachModulesVersion) {
  test::TempDir d;
  Image img = Image::create(d / "a.a4ps");
  EXPECT_EQ(module_version(img.db(), memory::store::schema()), memory::store::schema().latest());
  EXPECT_EQ(module_version(img.db(), learn::store::schema()), learn::store::schema().latest());
  EXPECT_EQ(scalar(d / "a.a4ps", "SELECT count(*) FROM modules WHERE name IN ('memory','learn')"), 2);
  EXPECT_EQ(scalar(d / "a.a4ps", "PRAGMA user_version"), kSchemaVersion);
  memory::add_text(img, "Tides follow the moon.", "tides.txt", {});
  EXPECT_EQ(memory::search(img, "moon", memory::Embedder{}, 3).size(), 1u);
  EXPECT_TRUE(img.check().ok);
}

TEST(ModuleTables, AnImageOfSchema2OpensReadOnlyThenUpgradesKeepingItsData) {
  test::TempDir d;
  fs::path p = d / "old.a4ps";
  old_image(p, 2);
  {
    Image ro = Image::open(p, {.read_only = true});  // nothing written: the tables are adopted as they are
    EXPECT_EQ(module_version(ro.db(), memory::store::schema()), 1);
    EXPECT_EQ(module_version(ro.db(), learn::store::schema()), 1);
    expect_data(ro, true);
    EXPECT_TRUE(memory::source_use(ro).empty());  // no use table yet: nothing counts as used
  }
  EXPECT_EQ(scalar(p, "PRAGMA user_version"), 2);
  {
    Image img = Image::open(p);
    EXPECT_EQ(scalar(p, "PRAGMA user_version"), kSchemaVersion);
    EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'memory'"), 1);
    EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'learn'"), 1);
    EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'memory_use'"), 1);
    CheckReport r = img.check();
    EXPECT_TRUE(r.ok) << (r.problems.empty() ? "" : r.problems[0]);
    expect_data(img, true);
    memory::add_text(img, "Ships return at dusk.", "more.txt", {});  // the index's triggers still work
    auto hits = memory::search(img, "ships", memory::Embedder{}, 5);
    EXPECT_EQ(hits.size(), 2u);
    memory::note_use(img, hits);
    auto use = memory::source_use(img);
    EXPECT_EQ(use["more.txt"].uses, 1);
    EXPECT_EQ(use["notes.txt"].uses, 1);
  }
  Image again = Image::open(p, {.read_only = true});
  expect_data(again, true);
  EXPECT_TRUE(again.check().ok);
}

TEST(ModuleTables, AnImageOfSchema1GetsTheModulesTablesWithItsMemoriesIndexed) {
  test::TempDir d;
  fs::path p = d / "older.a4ps";
  old_image(p, 1);
  EXPECT_NE(error_of([&] { Image::open(p, {.read_only = true}); }).find("open it once read-write"), std::string::npos);
  Image img = Image::open(p);
  EXPECT_EQ(module_version(img.db(), memory::store::schema()), 1);
  EXPECT_EQ(module_version(img.db(), learn::store::schema()), 1);
  expect_data(img, false);  // the memory added before the index existed is found
  EXPECT_TRUE(learn::golden_counts(img).empty());
  EXPECT_TRUE(img.check().ok);
}

// Checkpoints written before the graph module kept the whole state in every row: such a
// thread reads back read-only as it was, and once opened read-write it goes on in the
// newer layout (rows that hold only what their step changed), all of it still readable.
TEST(ModuleTables, AnOldImagesThreadReadsAndGoesOnInTheNewLayout) {
  test::TempDir d;
  fs::path p = d / "old.a4ps";
  old_image(p, 2);
  sql(p, "INSERT INTO threads(id,status,meta,created_at,updated_at) VALUES('t','done','{\"graph\":\"chat\"}',"
         "  '2026-01-01T00:00:00Z','2026-01-01T00:00:00Z');"
         "INSERT INTO checkpoints(thread_id,id,parent_id,step,state,next,meta,created_at) VALUES"
         "  ('t','000000000001','',0,'{\"messages\":[\"hi\"],\"n\":0}','[\"reply\"]','{\"source\":\"input\"}','2026-01-01T00:00:00Z'),"
         "  ('t','000000000002','000000000001',1,'{\"messages\":[\"hi\",\"hello\"],\"n\":1}','[]','{\"source\":\"loop\"}',"
         "   '2026-01-01T00:00:01Z');");
  graph::json first = {{"messages", {"hi"}}, {"n", 0}}, second = {{"messages", {"hi", "hello"}}, {"n", 1}};
  {
    Image ro = Image::open(p, {.read_only = true});
    auto cp = graph::image_checkpointer(ro);
    EXPECT_EQ(cp->get("t", "")->state, second);
    auto h = cp->list("t");
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[1].state, first);
    EXPECT_EQ(cp->list_after("t", "", 10)[0].state, first);
  }
  Image img = Image::open(p);
  EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'graph'"), 2);
  auto cp = graph::image_checkpointer(img);
  graph::StateGraph g;
  g.channel("messages", graph::append(), graph::json::array()).channel("n", graph::add(), 0);
  g.node("reply", [](const graph::json& s, graph::NodeContext&) {
    return graph::json{{"messages", "answer " + std::to_string(s["messages"].size())}, {"n", 1}};
  });
  g.edge(graph::START, "reply").edge("reply", graph::END);
  auto r = g.compile({.checkpointer = cp.get(), .name = "chat"}).invoke(graph::json{{"messages", "more"}}, {.thread_id = "t"});
  graph::json want = {{"messages", {"hi", "hello", "more", "answer 3"}}, {"n", 2}};
  EXPECT_EQ(r.state, want);
  EXPECT_EQ(scalar(p, "SELECT count(*) FROM checkpoints WHERE channels IS NOT NULL"), 2);
  auto fresh = graph::image_checkpointer(img);
  auto h = fresh->list("t");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].state, want);
  EXPECT_EQ(h[2].state, second);
  EXPECT_EQ(h[3].state, first);
  EXPECT_TRUE(img.check().ok);
}

// Images of the last layout (graph version 1: the (thread_id, id) text key, pending writes
// under a foreign key) are rebuilt once under the integer key: two threads' rows, their
// states put together from delta rows, a pending write, `image check`, and a run that goes on.
TEST(ModuleTables, TheLastLayoutsCheckpointsAreRekeyedOnce) {
  test::TempDir d;
  fs::path p = d / "v1.a4ps";
  graph::StateGraph g;
  g.channel("messages", graph::append(), graph::json::array()).channel("n", graph::add(), 0);
  g.node("reply", [](const graph::json& s, graph::NodeContext&) {
    return graph::json{{"messages", "answer " + std::to_string(s["messages"].size())}, {"n", 1}};
  });
  g.edge(graph::START, "reply").edge("reply", graph::END);
  std::vector<graph::json> want;
  {
    Image img = Image::create(p);
    auto cp = graph::image_checkpointer(img);
    auto run = g.compile({.checkpointer = cp.get(), .name = "chat"});
    for (int i = 0; i < 3; ++i) run.invoke(graph::json{{"messages", "hi " + std::to_string(i)}}, {.thread_id = "a"});
    run.invoke(graph::json{{"messages", "other"}}, {.thread_id = "b"});
    cp->put_writes("a", cp->get("a")->id, {{"reply", "n", 5}});
    for (auto& c : cp->list("a")) want.push_back(c.state);
  }
  // Back to version 1's tables, rows and all, as the last build left them.
  sql(p, R"(
    PRAGMA foreign_keys=OFF;
    CREATE TABLE cw(thread_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL, idx INTEGER NOT NULL,
      channel TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (thread_id, checkpoint_id, task_id, idx),
      FOREIGN KEY (thread_id, checkpoint_id) REFERENCES checkpoints(thread_id, id)) WITHOUT ROWID;
    INSERT INTO cw SELECT * FROM checkpoint_writes;
    CREATE TABLE cp(thread_id TEXT NOT NULL REFERENCES threads(id), id TEXT NOT NULL, parent_id TEXT NOT NULL DEFAULT '',
      step INTEGER NOT NULL, state TEXT NOT NULL, next TEXT NOT NULL DEFAULT '[]', meta TEXT NOT NULL DEFAULT '{}',
      created_at TEXT NOT NULL, channels TEXT, PRIMARY KEY (thread_id, id)) WITHOUT ROWID;
    INSERT INTO cp SELECT thread_id, id, parent_id, step, state, next, meta, created_at, channels FROM checkpoints;
    DROP TABLE checkpoint_writes; DROP TABLE checkpoints; DROP TABLE checkpoint_threads;
    ALTER TABLE cp RENAME TO checkpoints; ALTER TABLE cw RENAME TO checkpoint_writes;
    UPDATE modules SET version = 1 WHERE name = 'graph';)");
  {
    Image ro = Image::open(p, {.read_only = true});  // read through the old key, unchanged
    auto cp = graph::image_checkpointer(ro);
    ASSERT_EQ(cp->list("a").size(), want.size());
    EXPECT_EQ(cp->list("a")[0].state, want[0]);
  }
  EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'graph'"), 1);
  Image img = Image::open(p);
  EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'graph'"), 2);
  EXPECT_EQ(scalar(p, "SELECT count(*) FROM checkpoint_threads"), 2);
  auto cp = graph::image_checkpointer(img);
  auto h = cp->list("a");
  ASSERT_EQ(h.size(), want.size());
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(h[i].state, want[i]) << i;
  EXPECT_EQ(cp->list("b").size(), 2u);
  auto w = cp->writes("a", h[0].id);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].value, 5);
  EXPECT_TRUE(img.check().ok);
  auto r = g.compile({.checkpointer = cp.get(), .name = "chat"}).invoke(graph::json{{"messages", "more"}}, {.thread_id = "b"});
  EXPECT_EQ(r.state["n"], 2);
  EXPECT_EQ(cp->list("b").size(), 4u);
  EXPECT_TRUE(img.check().ok);
}

// An image whose graph tables a newer a4ps laid out is not written the older way.
TEST(ModuleTables, ANewerModuleVersionIsRefusedNotWrittenTheOlderWay) {
  test::TempDir d;
  fs::path p = d / "newer.a4ps";
  { Image::create(p); }
  sql(p, "UPDATE modules SET version = 99 WHERE name = 'graph'");
  std::string err = error_of([&] { Image::open(p); });
  EXPECT_NE(err.find("graph tables are at version 99, newer than this a4ps writes"), std::string::npos) << err;
}

// A module's later step reaches images that have its earlier ones; a failing step leaves
// the image at the last good version, and a read-only open says what to do.
TEST(ModuleTables, AModulesStepsRunInOrderEachInItsOwnTransaction) {
  test::TempDir d;
  fs::path p = d / "a.a4ps";
  register_module({.name = "test.widgets", .steps = {{1, "CREATE TABLE widgets(x);"}}});
  { Image::create(p); }
  EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'test.widgets'"), 1);
  ModuleSchema two{.name = "test.widgets", .steps = {{1, "CREATE TABLE widgets(x);"}, {2, "ALTER TABLE widgets ADD COLUMN y;"}}};
  register_module(two);
  {
    Image ro = Image::open(p, {.read_only = true});
    std::string e = error_of([&] { require_module(ro, two); });
    EXPECT_NE(e.find("lacks the test.widgets module's tables (version 1 of 2)"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos);
  }
  register_module({.name = "test.widgets",
                   .steps = {{1, "CREATE TABLE widgets(x);"}, {2, "ALTER TABLE widgets ADD COLUMN y;"}, {3, "CREATE TABLE widgets(x);"}}});
  EXPECT_THROW(Image::open(p), Error);  // step 3 fails: step 2 stays
  EXPECT_EQ(scalar(p, "SELECT version FROM modules WHERE name = 'test.widgets'"), 2);
  EXPECT_EQ(scalar(p, "SELECT count(y) FROM widgets"), 0);
  register_module(two);
  Image img = Image::open(p);
  EXPECT_NO_THROW(require_module(img, two));
  EXPECT_TRUE(img.check().ok);
}

}  // namespace
}  // namespace a4ps::image
