// bench_graph: the same 3-node loop graph, 10,000 steps, a SQLite checkpoint every step,
// in A4PS and in LangGraph.js (bench/graph/), plus the raw SQLite commit rate as the floor.
//
//   bench_graph [--steps N] [--dir DIR] [--profile ROUNDS] [--quick]
//
// --profile runs only the default mode, ROUNDS times, and prints nothing else: a steady
// load for `perf record`. --quick compares only the default mode with its raw floor.
//
// Prints (a) A4PS at the peer's durability (WAL + synchronous=FULL) against the raw
// commit rate and LangGraph.js, (b) A4PS's default (WAL + NORMAL) against the raw commit
// rate (median of 5 alternating rounds of each) and LangGraph.js,
// (c) the per-step CPU cost without the commit (in-memory checkpointer). The default mode
// is also set against the cheapest commit SQLite offers (see run_raw).
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "image/image.h"

namespace fs = std::filesystem;
using namespace a4ps;
using graph::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The graph LangGraph.js runs too (bench/graph/langgraph_bench.mjs): inc -> mix -> check,
// looping until i * 3 >= steps, so one run is `steps` node steps.
graph::StateGraph loop(int64_t steps) {
  graph::StateGraph g;
  g.channel("i", graph::replace(), 0).channel("acc", graph::replace(), 1);
  g.node("inc", [](const json& s, graph::NodeContext&) { return json{{"i", s["i"].get<int64_t>() + 1}}; });
  g.node("mix", [](const json& s, graph::NodeContext&) {
    return json{{"acc", (s["acc"].get<int64_t>() * 31 + s["i"].get<int64_t>()) % 1000003}};
  });
  g.node("check", [](const json&, graph::NodeContext&) { return json::object(); });
  g.edge(graph::START, "inc").edge("inc", "mix").edge("mix", "check");
  g.conditional("check", [steps](const json& s) {
    return std::vector<std::string>{s["i"].get<int64_t>() * 3 >= steps ? graph::END : "inc"};
  });
  return g;
}

struct Figures {
  double seconds = 0, cpu = 0;
  int64_t steps = 0;
  double rate() const { return steps / seconds; }
};

Figures run_a4ps(const fs::path& dir, int64_t steps, const char* mode, int round = 0) {
  fs::path p = dir / (std::string("graph-") + mode + "-" + std::to_string(round) + ".a4ps");
  std::unique_ptr<image::Image> img;
  std::unique_ptr<graph::Checkpointer> cp;
  if (std::strcmp(mode, "memory") == 0) {
    cp = graph::memory_checkpointer();
  } else {
    img = std::make_unique<image::Image>(image::Image::create(p));
    cp = graph::image_checkpointer(*img, std::strcmp(mode, "full") == 0 ? graph::Durability::Full : graph::Durability::Normal);
  }
  auto g = loop(steps).compile({.checkpointer = cp.get(), .name = "bench"});
  double c0 = cpu_seconds();
  auto t0 = Clock::now();
  auto r = g.invoke(json::object(), {.thread_id = "bench", .step_limit = static_cast<int>(steps) + 10});
  Figures f{seconds_since(t0), cpu_seconds() - c0, r.steps};
  return f;
}

// The floor: one INSERT of a checkpoint-sized row per transaction, nothing else. As the
// issue measured it: a (thread, id) text key in a WITHOUT ROWID table, BEGIN and COMMIT
// run as SQL text. `cheapest`: the same row under an integer rowid key, BEGIN and COMMIT
// prepared once (the least a commit of one row costs; A4PS's rows are keyed so since
// the graph module's version 2).
Figures run_raw(const fs::path& dir, int64_t n, bool full, int round = 0, bool cheapest = false) {
  fs::path p = dir / ((full ? "raw-full-" : "raw-normal-") + std::string(cheapest ? "rowid-" : "") + std::to_string(round) + ".db");
  sqlite3* db = nullptr;
  sqlite3_open(p.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  sqlite3_exec(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  sqlite3_exec(db,
               cheapest ? "CREATE TABLE c(k INTEGER PRIMARY KEY, thread TEXT, id TEXT, state TEXT)"
                        : "CREATE TABLE c(thread TEXT, id TEXT, state TEXT, PRIMARY KEY(thread, id)) WITHOUT ROWID",
               nullptr, nullptr, nullptr);
  sqlite3_stmt *st = nullptr, *begin = nullptr, *commit = nullptr;
  sqlite3_prepare_v2(db,
                     cheapest ? "INSERT INTO c VALUES(?2, 'bench', ?1, '{\"acc\":123456,\"i\":1234}')"
                              : "INSERT INTO c VALUES('bench', ?1, '{\"acc\":123456,\"i\":1234}')",
                     -1, &st, nullptr);
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  double c0 = cpu_seconds();
  auto t0 = Clock::now();
  char id[24];
  for (int64_t i = 0; i < n; ++i) {
    if (cheapest) sqlite3_step(begin), sqlite3_reset(begin);
    else sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    std::snprintf(id, sizeof id, "%012lld", static_cast<long long>(i));
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (cheapest) sqlite3_bind_int64(st, 2, (int64_t{1} << 40) | i);
    sqlite3_step(st);
    sqlite3_reset(st);
    if (cheapest) sqlite3_step(commit), sqlite3_reset(commit);
    else sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  Figures f{seconds_since(t0), cpu_seconds() - c0, n};
  sqlite3_finalize(st);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return f;
}

// LangGraph.js, when bench/graph/setup.sh has installed it: its last stdout line is JSON.
json run_langgraph(int64_t steps) {
  std::string dir = std::string(A4PS_SOURCE_DIR) + "/bench/graph";
  if (!fs::exists(dir + "/node_modules/@langchain/langgraph")) return nullptr;
  std::string cmd = "node '" + dir + "/langgraph_bench.mjs' --steps " + std::to_string(steps) + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return nullptr;
  std::string out, last;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  for (size_t a = 0, b; a < out.size(); a = b + 1) {
    b = out.find('\n', a);
    if (b == std::string::npos) b = out.size();
    if (b > a) last = out.substr(a, b - a);
  }
  json j = json::parse(last, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 10000;
  int profile = 0;
  fs::path base = "/tmp";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool more = i + 1 < argc;
    if (a == "--quick") quick = true;
    else if (a == "--steps" && more) steps = std::atoll(argv[++i]);
    else if (a == "--dir" && more) base = argv[++i];
    else if (a == "--profile" && more) profile = std::atoi(argv[++i]);
  }
  std::string tmpl = (base / "a4ps-bench-graph-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::fprintf(stderr, "bench_graph: cannot create a directory in %s\n", base.c_str());
    return 1;
  }
  fs::path dir = tmpl;
  if (profile > 0) {
    for (int k = 0; k < profile; ++k) run_a4ps(dir, steps, "normal", k);
    fs::remove_all(dir);
    return 0;
  }
  std::printf("3-node loop graph, %lld steps, one SQLite checkpoint per step (temp dir %s)\n\n",
              static_cast<long long>(steps), dir.c_str());
  run_a4ps(dir, 300, "memory");  // warm up
  Figures raw_full, full;
  if (!quick) raw_full = run_raw(dir, steps, true), full = run_a4ps(dir, steps, "full");
  // The default mode against its floor in alternating rounds, medians of each: on a shared
  // machine one round of each, minutes apart in load, says little.
  const int rounds = 5;
  std::vector<Figures> raws, cheapests, normals;
  for (int k = 0; k < rounds; ++k) {
    raws.push_back(run_raw(dir, steps, false, k));
    normals.push_back(run_a4ps(dir, steps, "normal", k));
    cheapests.push_back(run_raw(dir, steps, false, k, true));
  }
  auto median = [](std::vector<Figures> v) {
    std::sort(v.begin(), v.end(), [](const Figures& a, const Figures& b) { return a.rate() < b.rate(); });
    return v[v.size() / 2];
  };
  Figures raw_normal = median(raws), normal = median(normals), cheapest = median(cheapests);
  if (quick) {
    fs::remove_all(dir);
    std::printf("default (WAL+NORMAL), median of %d alternating rounds: A4PS %.0f steps/s, raw %.0f = %.2fx; CPU per step %.1f us, raw %.1f us\n",
                rounds, normal.rate(), raw_normal.rate(), normal.rate() / raw_normal.rate(), normal.cpu / normal.steps * 1e6,
                raw_normal.cpu / raw_normal.steps * 1e6);
    std::printf("against the cheapest commit (rowid key, prepared BEGIN/COMMIT): %.0f steps/s = %.2fx; CPU per step %.1f us\n",
                cheapest.rate(), normal.rate() / cheapest.rate(), cheapest.cpu / cheapest.steps * 1e6);
    return 0;
  }
  Figures mem = run_a4ps(dir, steps, "memory");
  json lg = run_langgraph(steps);
  fs::remove_all(dir);

  double lg_rate = lg.is_object() ? lg.value("steps_per_s", 0.0) : 0.0;
  std::printf("%-34s %10s %10s %12s %14s\n", "case", "steps", "seconds", "steps/s", "CPU us/step");
  auto row = [](const char* name, const Figures& f) {
    std::printf("%-34s %10lld %10.3f %12.0f %14.1f\n", name, static_cast<long long>(f.steps), f.seconds, f.rate(),
                f.cpu / f.steps * 1e6);
  };
  row("raw SQLite commits, WAL+FULL", raw_full);
  row("raw SQLite commits, WAL+NORMAL *", raw_normal);
  row("raw, rowid key, prepared, NORMAL *", cheapest);
  row("A4PS graph, WAL+FULL", full);
  row("A4PS graph, WAL+NORMAL (default) *", normal);
  row("A4PS graph, in-memory checkpoints", mem);
  std::printf("* median of %d alternating rounds of each\n", rounds);
  if (lg_rate > 0)
    std::printf("%-34s %10lld %10.3f %12.0f   (%s, %s checkpoints, journal %s, synchronous %s)\n", "LangGraph.js + SqliteSaver",
                static_cast<long long>(lg.value("steps", 0)), lg.value("seconds", 0.0), lg_rate,
                lg.value("version", "?").c_str(), std::to_string(lg.value("checkpoints", 0)).c_str(),
                lg.value("journal_mode", "?").c_str(), lg.dump().find("synchronous") != std::string::npos ? lg["synchronous"].dump().c_str() : "?");
  else
    std::printf("LangGraph.js: skipped (run bench/graph/setup.sh to install it)\n");

  std::printf("\n(a) at the peer's durability (WAL+FULL, survives power loss): A4PS %.0f steps/s = %.2fx the raw commit rate",
              full.rate(), full.rate() / raw_full.rate());
  if (lg_rate > 0) std::printf(", %.1fx LangGraph.js", full.rate() / lg_rate);
  std::printf("\n(b) default (WAL+NORMAL, survives a killed process; power loss may drop the last steps): %.0f steps/s"
              " = %.2fx the raw commit rate",
              normal.rate(), normal.rate() / raw_normal.rate());
  if (lg_rate > 0) std::printf(", %.1fx LangGraph.js", normal.rate() / lg_rate);
  std::printf("; %.2fx the cheapest commit (rowid key, prepared BEGIN/COMMIT)", normal.rate() / cheapest.rate());
  std::printf("\n(c) per-step CPU without the commit (in-memory checkpointer): %.1f us; "
              "CPU per step with WAL+NORMAL checkpoints: %.1f us (raw commit: %.1f us)\n",
              mem.cpu / mem.steps * 1e6, normal.cpu / normal.steps * 1e6, raw_normal.cpu / raw_normal.steps * 1e6);
  return 0;
}
