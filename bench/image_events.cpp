// Commit throughput of the image's event log against a raw SQLite peer.
//
// Both sides do one durable transaction per event in a WAL database, so the difference is
// what A4PS adds per commit: reading the head, SHA-256 chaining, the JSON dump and
// json_valid check, and the head update in meta. Run for synchronous=FULL and NORMAL.
// Then the cost of opening an image with a long log under its codex guard: replaying the
// whole log (as before the guard's state was saved) against starting from the saved state.
//
//   bench_image_events [DIR] [--n N] [--open-events N]   DIR: where temp files go (default /tmp)
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <algorithm>
#include <vector>

#include "codex/codex.h"
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

// The codex's guard as it was before its state was saved: every open replays the log.
class ReplayOnly final : public img::EventGuard {
 public:
  explicit ReplayOnly(std::shared_ptr<img::EventGuard> g) : g_(std::move(g)) {}
  int64_t seen() const override { return g_->seen(); }
  void catch_up(const img::Event& e) override { g_->catch_up(e); }
  std::string check(const img::Event& e) override { return g_->check(e); }
  void committed() override { g_->committed(); }
  void rolled_back() override { g_->rolled_back(); }

 private:
  std::shared_ptr<img::EventGuard> g_;
};

// An image with n events, written under the default codex's guard (so its state is saved
// as it would be), in transactions of 10,000 events to keep the setup short.
void write_log(const fs::path& path, int64_t n) {
  auto image = img::Image::create(path, {.sync = img::Sync::Normal});
  image.set_guard(a4ps::codex::guard(a4ps::codex::default_codex()));
  for (int64_t done = image.info().head_seq; done < n;) {
    img::Image::Tx tx(image);
    for (int64_t k = 0; k < 10000 && done < n; ++k, ++done) image.append_event("bench.tick", "bench", kPayload);
    tx.commit();
  }
}

// Median seconds of `runs` guarded opens.
double open_seconds(const fs::path& path, bool saved_state, int runs) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    if (saved_state) {
      auto image = a4ps::codex::open_guarded(path);
    } else {
      auto image = img::Image::open(path);
      image.set_guard(std::make_shared<ReplayOnly>(a4ps::codex::guard(a4ps::codex::image_codex(image))));
    }
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  fs::path base = "/tmp";
  int n_override = 0;
  int64_t open_events = 1000000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) n_override = std::stoi(argv[++i]);
    else if (a == "--open-events" && i + 1 < argc) open_events = std::stoll(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [DIR] [--n N] [--open-events N]\n", argv[0]);
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
    if (open_events > 0) {
      const fs::path p = dir / "long-log.a4ps";
      // The worst case: the most events after the last saved state.
      const int64_t n = open_events + img::kGuardSaveEvery - 1;
      auto t0 = Clock::now();
      write_log(p, n);
      std::printf("\nopening an image of %lld events under its codex guard, %lld of them after its saved state\n"
                  "(written in %.1f s; median of 3 opens):\n",
                  static_cast<long long>(n), static_cast<long long>(n % img::kGuardSaveEvery),
                  std::chrono::duration<double>(Clock::now() - t0).count());
      const double replay = open_seconds(p, false, 3), saved = open_seconds(p, true, 3);
      std::printf("%-40s %10.1f ms\n", "replaying the whole log (before)", replay * 1e3);
      std::printf("%-40s %10.1f ms   (%.0fx faster; target <= 50 ms)\n", "from the saved codex state (now)", saved * 1e3,
                  replay / saved);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);  // the .db/.a4ps files and their -wal/-shm companions
  return rc;
}
