// Commit throughput of the image's event log against a raw SQLite peer.
//
// Both sides do one durable transaction per event in a WAL database, so the difference is
// what A4PS adds per commit: reading the head, SHA-256 chaining, the JSON dump and
// json_valid check, and the head update in meta. Run for synchronous=FULL and NORMAL.
//
//   bench_image_events [DIR] [--n N]     DIR: where temp files go (default /tmp)
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "image/image.h"

namespace fs = std::filesystem;
namespace img = a4ps::image;
using Clock = std::chrono::steady_clock;

namespace {

// ~160 bytes of JSON: the size of a typical tool/persona event.
const img::json kPayload = {{"tool", "web.search"},
                            {"args", {{"query", "sqlite wal synchronous normal vs full durability"}}},
                            {"status", "ok"},
                            {"ms", 1234},
                            {"thread", "9f2c4e1a-0b7d-4c3e-8a55-2d1f6b9e7c10"}};

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}
void exec(sqlite3* db, const char* sql) { check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql); }

// The floor: same table shape, a prepared INSERT, constant hashes (no hashing at all).
double run_raw(const fs::path& path, bool full, int n) {
  sqlite3* db = nullptr;
  check(db, sqlite3_open(path.c_str(), &db), "open");
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  exec(db, "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts TEXT, kind TEXT, actor TEXT, "
           "payload TEXT, prev_hash TEXT, hash TEXT)");
  const std::string payload = kPayload.dump(), hash(64, 'a'), ts = "2024-01-01T00:00:00Z";
  sqlite3_stmt* st = nullptr;
  check(db, sqlite3_prepare_v2(db, "INSERT INTO events(ts,kind,actor,payload,prev_hash,hash) "
                                   "VALUES(?,?,?,?,?,?)", -1, &st, nullptr), "prepare");
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    exec(db, "BEGIN IMMEDIATE");
    sqlite3_bind_text(st, 1, ts.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, "bench.tick", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, "bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, payload.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, hash.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, hash.c_str(), -1, SQLITE_STATIC);
    check(db, sqlite3_step(st), "insert");
    sqlite3_reset(st);
    exec(db, "COMMIT");
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}

// The real thing: each append_event is its own hash-chained transaction.
double run_a4ps(const fs::path& path, bool full, int n) {
  img::CreateOptions opts;
  opts.sync = full ? img::Sync::Full : img::Sync::Normal;
  auto image = img::Image::create(path, opts);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) image.append_event("bench.tick", "bench", kPayload);
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  fs::path base = "/tmp";
  int n_override = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) n_override = std::stoi(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [DIR] [--n N]\n", argv[0]);
      return 0;
    } else base = a;
  }
  // A fresh subdirectory, so cleanup never touches anything that was already in DIR.
  std::string tmpl = (base / "a4ps-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror(("mkdtemp " + tmpl).c_str());
    return 1;
  }
  const fs::path dir = tmpl;
  int rc = 0;
  try {
    std::printf("temp dir: %s  (SQLite %s)\n\n", dir.c_str(), sqlite3_libversion());
    std::printf("%-16s %8s %9s %11s %10s\n", "case", "events", "seconds", "events/s", "a4ps/raw");
    for (bool full : {true, false}) {
      // FULL fsyncs every commit, so it gets fewer events to keep the run short.
      const int n = n_override > 0 ? n_override : (full ? 2000 : 20000);
      const char* mode = full ? "FULL" : "NORMAL";
      const double raw = run_raw(dir / (std::string("raw-") + mode + ".db"), full, n);
      const double a4 = run_a4ps(dir / (std::string("image-") + mode + ".a4ps"), full, n);
      std::printf("raw    %-9s %8d %9.3f %11.0f %10s\n", mode, n, raw, n / raw, "");
      std::printf("a4ps   %-9s %8d %9.3f %11.0f %9.2fx\n", mode, n, a4, n / a4, raw / a4);
    }
    std::printf("\nFULL:   fsync on every commit; a committed event survives power loss.\n"
                "NORMAL: (WAL) survives a process crash; on power loss the last commits may be\n"
                "        lost (never corrupted: the chain stays valid up to the last synced one).\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);  // the .db/.a4ps files and their -wal/-shm companions
  return rc;
}
