#include "image/image.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>

#include "image/archive.h"
#include "image/diff.h"
#include "image/fault_vfs.h"
#include "image/schema.h"
#include "image/sqlite.h"
#include "testutil.h"

namespace a4ps::image {
namespace {

using test::TempDir;

// Raw SQL on an image file, as an attacker or a damaged disk would change it.
void raw_sql(const fs::path& p, const std::string& s) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

int64_t count(const Image& img, const std::string& table) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(img.db(), ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr);
  sqlite3_step(st);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

using test::error_of;

TEST(Image, CreateThenOpenShowsAnEmptyImage) {
  TempDir d;
  auto path = d / "a.a4ps";
  { Image::create(path, {.name = "alpha"}); }
  EXPECT_FALSE(fs::exists(d / "a.a4ps-wal"));  // nothing left beside a closed image
  Image img = Image::open(path, {.read_only = true});
  Info i = img.info();
  EXPECT_EQ(i.name, "alpha");
  EXPECT_EQ(i.id.size(), 32u);
  EXPECT_EQ(i.schema_version, kSchemaVersion);
  EXPECT_EQ(i.journal_mode, "wal");
  EXPECT_EQ(i.counts.events, 1);
  EXPECT_EQ(i.counts.tools, 0);
  EXPECT_EQ(img.events().at(0).kind, "image.created");
}

TEST(Image, CreateRefusesToOverwriteAndMissingDirectories) {
  TempDir d;
  Image::create(d / "a.a4ps");
  EXPECT_NE(error_of([&] { Image::create(d / "a.a4ps"); }).find("already exists"), std::string::npos);
  EXPECT_NE(error_of([&] { Image::create(d / "no/such/dir.a4ps"); }).find("does not exist"), std::string::npos);
  EXPECT_NO_THROW(Image::create(d / "a.a4ps", {.overwrite = true}));
}

TEST(Image, ObjectsKeepEveryVersionAndRemovalIsAVersion) {
  TempDir d;
  Image img = Image::create(d / "a.a4ps");
  EXPECT_EQ(img.put(Kind::Tool, "add", "def add(a, b):\n    return a + b\n"), 1);
  EXPECT_EQ(img.put(Kind::Tool, "add", "def add(a, b):\n    return a + b\n"), 1);  // unchanged: no new version
  EXPECT_EQ(img.put(Kind::Tool, "add", "def add(a, b):\n    return b + a\n", {{"doc", "x"}}), 2);
  img.remove(Kind::Tool, "add");
  EXPECT_FALSE(img.get(Kind::Tool, "add").has_value());
  EXPECT_TRUE(img.list(Kind::Tool).empty());
  ASSERT_EQ(img.history(Kind::Tool, "add").size(), 3u);
  EXPECT_TRUE(img.history(Kind::Tool, "add")[2].removed);
  EXPECT_EQ(img.get(Kind::Tool, "add", 1)->content, "def add(a, b):\n    return a + b\n");
  EXPECT_EQ(img.put(Kind::Tool, "add", "def add(a, b):\n    return 0\n"), 4);
  EXPECT_EQ(img.get(Kind::Tool, "add")->version, 4);
  EXPECT_NE(error_of([&] { img.remove(Kind::Persona, "nobody"); }).find("no persona named"), std::string::npos);
}

TEST(Image, AdaptersNeedBlobAndBaseHashAndBlobsAreStoredOnce) {
  TempDir d;
  Image img = Image::create(d / "a.a4ps");
  EXPECT_NE(error_of([&] { img.put(Kind::Adapter, "lora", "x", {{"base_sha256", "b"}}); }).find("GGUF bytes"),
            std::string::npos);
  std::string bytes(100000, 'z');
  img.put(Kind::Adapter, "lora", "brick adapter", {{"base_sha256", "b"}, {"persona", "BRICK"}}, bytes);
  img.put(Kind::Adapter, "lora2", "copy", {{"base_sha256", "b"}}, bytes);
  auto a = img.get(Kind::Adapter, "lora");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->blob_sha256, sha256_hex(bytes));
  EXPECT_EQ(img.blob(a->blob_sha256), bytes);
  EXPECT_EQ(count(img, "blobs"), 1);
}


TEST(Image, EveryChangeAppendsOneChainedEvent) {
  TempDir d;
  Image img = Image::create(d / "a.a4ps");
  img.put(Kind::Persona, "BRICK", "name = 'BRICK'");
  img.add_memory("the sky is blue", "test");
  int64_t p = img.propose("tool.register", "add", {{"version", 1}});
  img.decide(p, true, "alice", "looks right");
  auto ev = img.events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[1].kind, "persona.version_added");
  EXPECT_EQ(ev[2].kind, "memory.added");
  EXPECT_EQ(ev[3].kind, "proposal.created");
  EXPECT_EQ(ev[4].kind, "proposal.approved");
  EXPECT_EQ(ev[4].actor, "alice");
  EXPECT_EQ(ev[0].prev_hash, std::string(64, '0'));
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].prev_hash, ev[i - 1].hash);
    EXPECT_EQ(event_hash(ev[i]), ev[i].hash);
  }
  EXPECT_TRUE(img.check().ok);
  EXPECT_EQ(img.check().events_verified, 5);
  EXPECT_NE(error_of([&] { img.decide(p, false, "bob", "too late"); }).find("not pending"), std::string::npos);
  EXPECT_EQ(img.proposals("approved").size(), 1u);
}

TEST(Image, AbandonedTransactionLeavesNothing) {
  TempDir d;
  Image img = Image::create(d / "a.a4ps");
  {
    Image::Tx tx(img);
    img.put(Kind::Tool, "a", "x");
    img.put(Kind::Tool, "b", "y");
  }  // no commit
  EXPECT_TRUE(img.list(Kind::Tool).empty());
  EXPECT_EQ(img.events().size(), 1u);
  EXPECT_TRUE(img.check().ok);
  img.put(Kind::Tool, "a", "x");  // the chain continues cleanly afterwards
  EXPECT_TRUE(img.check().ok);
}

TEST(Image, ReadOnlyOpenRefusesWrites) {
  TempDir d;
  Image::create(d / "a.a4ps");
  Image img = Image::open(d / "a.a4ps", {.read_only = true});
  EXPECT_NE(error_of([&] { img.put(Kind::Tool, "a", "x"); }).find("read-only"), std::string::npos);
}

TEST(Schema, MigrationsRunInOrderAndStopAtAFailingStep) {
  TempDir d;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d / "m.db").c_str(), &db), SQLITE_OK);
  const Migration good[] = {{1, "CREATE TABLE a(x);"}, {2, "ALTER TABLE a ADD COLUMN y;"}};
  migrate(db, good);
  auto version = [&] {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
    sqlite3_step(st);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(version(), 2);
  migrate(db, good);  // idempotent
  EXPECT_EQ(version(), 2);
  const Migration bad[] = {{1, ""}, {2, ""}, {3, "CREATE TABLE b(x);"}, {4, "CREATE TABLE a(x);"}};
  EXPECT_THROW(migrate(db, bad), Error);
  EXPECT_EQ(version(), 3);  // step 3 landed, step 4 rolled back
  const Migration gap[] = {{5, "CREATE TABLE c(x);"}};
  EXPECT_NE(error_of([&] { migrate(db, gap); }).find("gap"), std::string::npos);
  sqlite3_close(db);
}

TEST(Image, NewerSchemaIsRefusedAndLeftUntouched) {
  TempDir d;
  Image::create(d / "a.a4ps");
  raw_sql(d / "a.a4ps", "PRAGMA user_version=99");
  std::string before = sha256_file(d / "a.a4ps");
  EXPECT_NE(error_of([&] { Image::open(d / "a.a4ps"); }).find("newer than this a4ps"), std::string::npos);
  EXPECT_EQ(sha256_file(d / "a.a4ps"), before);
}

TEST(Image, TamperingInTheMiddleIsFoundByCheck) {
  TempDir d;
  {
    Image img = Image::create(d / "a.a4ps");
    for (int i = 0; i < 5; ++i) img.put(Kind::Tool, "t" + std::to_string(i), "x");
  }
  raw_sql(d / "a.a4ps", "DROP TRIGGER events_no_update; UPDATE events SET payload='{\"name\":\"evil\"}' WHERE seq=3");
  Image img = Image::open(d / "a.a4ps", {.read_only = true});  // the head is intact
  CheckReport r = img.check();
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.problems.at(0), "event chain broken at seq 3: hash mismatch (its content was changed)");
}

TEST(Image, TamperingWithTheHeadOrRemovingEventsIsFoundOnOpen) {
  TempDir d;
  {
    Image img = Image::create(d / "a.a4ps");
    img.put(Kind::Tool, "a", "x");
    img.put(Kind::Tool, "b", "y");
  }
  fs::copy_file(d / "a.a4ps", d / "b.a4ps");
  raw_sql(d / "a.a4ps", "DROP TRIGGER events_no_update; UPDATE events SET actor='mallory' WHERE seq=3");
  EXPECT_NE(error_of([&] { Image::open(d / "a.a4ps"); }).find("altered outside A4PS"), std::string::npos);
  raw_sql(d / "b.a4ps", "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq=3");
  EXPECT_NE(error_of([&] { Image::open(d / "b.a4ps"); }).find("altered outside A4PS"), std::string::npos);
}

TEST(Image, TheEventLogRefusesUpdatesThroughSql) {
  TempDir d;
  Image img = Image::create(d / "a.a4ps");
  char* err = nullptr;
  EXPECT_NE(sqlite3_exec(img.db(), "DELETE FROM events", nullptr, nullptr, &err), SQLITE_OK);
  EXPECT_NE(std::string(err ? err : "").find("append-only"), std::string::npos);
  sqlite3_free(err);
}

// Two images differing by a tool version, a persona and an adapter.
void make_diff_pair(const TempDir& d) {
  {
    Image a = Image::create(d / "a.a4ps");
    a.put(Kind::Tool, "add", "def add(a, b):\n    return a + b\n");
    a.put(Kind::Tool, "old", "def old():\n    pass\n");
    a.put(Kind::Persona, "BRICK", "name = \"BRICK\"\nrole = \"builder\"\n");
    a.put(Kind::Adapter, "brick-lora", "BRICK adapter", {{"base_sha256", "base1"}}, std::string(64, 'a'));
    a.put(Kind::Codex, "core", "principle = \"care\"\n");
  }
  Image b = fork(d / "a.a4ps", d / "b.a4ps");
  b.put(Kind::Tool, "add", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n");
  b.remove(Kind::Tool, "old");
  b.put(Kind::Persona, "ROBIN", "name = \"ROBIN\"\n");
  b.put(Kind::Adapter, "brick-lora", "BRICK adapter", {{"base_sha256", "base1"}}, std::string(64, 'b'));
}

TEST(Diff, ReportsExactlyWhatChanged) {
  TempDir d;
  make_diff_pair(d);
  DiffReport r = diff(Image::open(d / "a.a4ps"), Image::open(d / "b.a4ps"));
  json expected = json::parse(R"({
    "persona": {"added": [{"name": "ROBIN", "from_version": 0, "to_version": 1}], "removed": [], "changed": []},
    "tool": {"added": [], "removed": [{"name": "old", "from_version": 1, "to_version": 0}],
             "changed": [{"name": "add", "from_version": 1, "to_version": 2,
                          "diff": "--- tool/add@v1\n+++ tool/add@v2\n@@ -1,2 +1,3 @@\n def add(a, b):\n+    \"\"\"Sum.\"\"\"\n     return a + b\n"}]},
    "codex": {"added": [], "removed": [], "changed": []},
    "adapter": {"added": [], "removed": [], "changed": [{"name": "brick-lora", "from_version": 1, "to_version": 2,
                "diff": "blob: SA -> SB\n"}]},
    "memories": {"added": [], "removed": [], "changed": []},
    "settings": []
  })");
  std::string blob_line = "blob: " + sha256_hex(std::string(64, 'a')) + " -> " + sha256_hex(std::string(64, 'b')) + "\n";
  expected["adapter"]["changed"][0]["diff"] = blob_line;
  EXPECT_EQ(r.to_json(), expected) << r.to_json().dump(2);
  EXPECT_TRUE(diff(Image::open(d / "a.a4ps"), Image::open(d / "a.a4ps")).empty());
}

TEST(Archive, ExportImportRoundTripsAndVerifies) {
  TempDir d;
  make_diff_pair(d);
  auto ex = export_image(Image::open(d / "b.a4ps", {.read_only = true}), d / "b.tar");
  EXPECT_EQ(ex.manifest["files"][0]["sha256"], ex.image_sha256);
  auto im = import_image(d / "b.tar", d / "c.a4ps");
  Image b = Image::open(d / "b.a4ps", {.read_only = true});
  Image c = Image::open(d / "c.a4ps", {.read_only = true});
  EXPECT_TRUE(diff(b, c).empty());
  EXPECT_EQ(b.meta("head_hash"), c.meta("head_hash"));
  EXPECT_EQ(b.meta("image_id"), c.meta("image_id"));
  EXPECT_TRUE(c.check().ok);
  EXPECT_NE(error_of([&] { import_image(d / "b.tar", d / "c.a4ps"); }).find("already exists"), std::string::npos);
}

TEST(Archive, ImportRefusesADamagedArchiveAndCreatesNothing) {
  TempDir d;
  make_diff_pair(d);
  export_image(Image::open(d / "a.a4ps"), d / "a.tar");
  {  // flip one byte inside the image entry (past the manifest)
    std::fstream f(d / "a.tar", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(d / "a.tar") / 2));
    f.put('\x5a');
  }
  EXPECT_NE(error_of([&] { import_image(d / "a.tar", d / "x.a4ps"); }).find("does not match the manifest"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(d / "x.a4ps"));
  for (auto& e : fs::directory_iterator(d.path))
    EXPECT_EQ(e.path().string().find("x.a4ps"), std::string::npos) << e.path();
}

TEST(Image, SaveAsWhileAnotherConnectionWrites) {
  TempDir d;
  { Image::create(d / "a.a4ps", {.sync = Sync::Normal}); }
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    Image w = Image::open(d / "a.a4ps", {.sync = Sync::Normal});
    for (int i = 0; !stop; ++i) w.append_event("test.tick", "writer", {{"i", i}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 50; ++i)  // opening verifies the chain head: never a false alarm mid-write
    EXPECT_NO_THROW(Image::open(d / "a.a4ps", {.read_only = true}).info());
  Image::open(d / "a.a4ps", {.read_only = true}).save_as(d / "copy.a4ps");
  stop = true;
  writer.join();
  Image copy = Image::open(d / "copy.a4ps", {.read_only = true});
  EXPECT_TRUE(copy.check().ok);
  EXPECT_GT(copy.info().counts.events, 1);
}

// ---- the durability promise (see Sync) --------------------------------------------
// Through the fault VFS, which counts the fsyncs of the image and its WAL: in WAL mode a
// commit at Full syncs the WAL, one at Normal does not.

class Durability : public ::testing::Test {
 protected:
  void SetUp() override {
    { Image::create(d / "a.a4ps"); }
    img = std::make_unique<Image>(Image::open(d / "a.a4ps", {.vfs = FaultVfs::kName}));
    // Every switch of the connection's mode, as SQLite runs it.
    sqlite3_trace_v2(
        img->db(), SQLITE_TRACE_STMT,
        [](unsigned, void* n, void*, void* sql) {
          if (std::string_view(static_cast<const char*>(sql)).starts_with("PRAGMA synchronous=")) ++*static_cast<int*>(n);
          return 0;
        },
        &switches);
  }
  void TearDown() override { FaultVfs::install().clear(); }
  // One step's worth of change in a transaction of its own at the given mode.
  void step(Sync s, const std::string& key) {
    Image::Tx tx(*img, s);
    sql::Stmt(img->db(), "INSERT INTO settings(key,value) VALUES(?,'x')").bind(1, key).run();
    tx.commit();
  }
  int64_t syncs() const { return FaultVfs::install().syncs(); }
  int64_t mode() const { return sql::scalar_i64(img->db(), "PRAGMA synchronous"); }  // 1 Normal, 2 Full
  TempDir d;
  std::unique_ptr<Image> img;
  int switches = 0;
};

TEST_F(Durability, StepsAtNormalSwitchOnceAndSkipTheFsync) {
  step(Sync::Normal, "s");  // the first commit after an open may start a new WAL, which is synced
  FaultVfs::install().clear();
  for (int i = 0; i < 5; ++i) step(Sync::Normal, "s" + std::to_string(i));
  EXPECT_EQ(syncs(), 0) << "a Normal commit does not fsync";
  EXPECT_EQ(switches, 1) << "the connection is switched once for a run of Normal steps";
  EXPECT_EQ(mode(), 1) << "and left there until a commit needs another mode";
}

TEST_F(Durability, AFullPromisedCommitAfterANormalStepIsSynced) {
  step(Sync::Normal, "s");
  FaultVfs::install().clear();
  int64_t inside = 0;
  {
    Image::Tx tx(*img);  // the image's own promise: Full
    inside = mode();
    img->set_setting("k", "v");
    tx.commit();
  }
  EXPECT_EQ(inside, 2) << "the commit ran at synchronous=NORMAL";
  EXPECT_GT(syncs(), 0) << "a Full commit must fsync";
  EXPECT_EQ(switches, 2);
  FaultVfs::install().clear();
  step(Sync::Full, "f");  // already at Full: no switch, still synced
  EXPECT_GT(syncs(), 0);
  EXPECT_EQ(switches, 2);
}

TEST_F(Durability, AWriteOutsideAnyTransactionAfterANormalStepIsSynced) {
  step(Sync::Normal, "s");
  FaultVfs::install().clear();
  // As the stores that write one statement on its own do (runs, memory embeddings).
  sql::Stmt(img->db(), "INSERT INTO settings(key,value) VALUES('auto','x')").run();
  EXPECT_GT(syncs(), 0) << "an autocommit write after a Normal step committed without an fsync";
  EXPECT_EQ(mode(), 2);
  EXPECT_EQ(img->setting("auto"), "x");
}

TEST_F(Durability, ARawCommitBelowThePromiseIsRefusedNotWeakened) {
  step(Sync::Normal, "s");
  // A raw BEGIN ... COMMIT around a write, bypassing Image::Tx: the only way left to commit
  // below the promise, so it is refused and rolled back.
  ASSERT_EQ(sqlite3_exec(img->db(), "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(img->db(), "INSERT INTO settings(key,value) VALUES('raw','x')", nullptr, nullptr, nullptr), SQLITE_OK);
  std::string err = test::error_of([&] { sql::exec(img->db(), "COMMIT"); });
  EXPECT_NE(err.find("was rolled back"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_TRUE(sqlite3_get_autocommit(img->db()));
  EXPECT_EQ(img->setting("raw"), "");
  img->set_setting("after", "y");  // the connection goes on as promised
  EXPECT_EQ(img->setting("after"), "y");
  EXPECT_TRUE(img->check().ok);
}

TEST_F(Durability, ANestedTransactionCannotAskForMoreThanItsOuterOne) {
  {
    Image::Tx outer(*img, Sync::Normal);
    std::string err = test::error_of([&] { Image::Tx inner(*img); });
    EXPECT_NE(err.find("nested"), std::string::npos) << err;
    outer.commit();
  }
  FaultVfs::install().clear();
  {
    Image::Tx outer(*img);
    Image::Tx inner(*img, Sync::Normal);  // less inside more: the outer one's Full holds
    sql::Stmt(img->db(), "INSERT INTO settings(key,value) VALUES('n','x')").run();
    inner.commit();
    outer.commit();
  }
  EXPECT_GT(syncs(), 0);
  EXPECT_EQ(img->setting("n"), "x");
}

}  // namespace
}  // namespace a4ps::image
