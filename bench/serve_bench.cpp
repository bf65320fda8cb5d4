// bench_serve: a scripted run over HTTP (`a4ps serve`, runs/wait) against the same run
// through the library (a4ps::Session::ask), p50 and p99; and the time from POST
// runs/stream to its first step event. The model is the scripted fake, so this measures
// what the service adds (HTTP, JSON, the queue, a session per run), not a model.
//
//   build/bench/bench_serve [--n N] [--dir DIR]
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "a4ps/image.h"
#include "a4ps/session.h"

#include "bench_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using a4ps::bench::Clock;
using a4ps::bench::ms;
using a4ps::bench::Stats;
using a4ps::bench::stats;

int main(int argc, char** argv) {
  int n = 200;
  fs::path base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::max(10, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--dir")) base = argv[i + 1];
  }
  std::string tmpl = (base / "a4ps-bench-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  fs::path script = dir / "quick.jsonl";
  std::ofstream(script) << json{{"persona", "ALFRED"}, {"match", "routing turn 1 "}, {"text", R"({"next":"ANSWER","brief":"go"})"}}.dump()
                        << "\n"
                        << json{{"persona", "ALFRED"}, {"match", "Write the answer"}, {"text", "Done."}}.dump() << "\n";
  std::string model = "scripted:" + script.string();

  // Over HTTP: a real server process on loopback.
  {
    a4ps::Image img = a4ps::Image::open((dir / "http.a4ps").string());
  }
  std::vector<std::string> args = {A4PS_BIN, "serve", (dir / "http.a4ps").string(), "--listen", "127.0.0.1:0", "-m", model};
  int err = -1;
  pid_t pid = a4ps::bench::spawn(args, &err);
  if (pid < 0) return std::fprintf(stderr, "cannot start a4ps serve\n"), 1;
  std::string log;
  std::smatch m;
  std::regex re(R"(on http://127\.0\.0\.1:(\d+))");
  char b[512];
  for (ssize_t k; !std::regex_search(log, m, re) && (k = read(err, b, sizeof b)) > 0;) log.append(b, static_cast<size_t>(k));
  if (!std::regex_search(log, m, re)) return std::fprintf(stderr, "a4ps serve did not start: %s\n", log.c_str()), 1;
  int port = std::stoi(m[1]);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  std::vector<double> lib, http, first;
  // Interleaved, so both paths see the same machine (other load, CPU frequency).
  a4ps::Image img = a4ps::Image::open((dir / "lib.a4ps").string());
  for (int i = 0; i < n; ++i) {
    // Through the library: what `a4ps serve` does per run, minus HTTP and the queue.
    auto l0 = Clock::now();
    a4ps::Session s(img, {.model = model});
    auto a = s.ask("lib-" + std::to_string(i), "task");
    lib.push_back(ms(Clock::now() - l0));
    if (a.text != "Done.") return std::fprintf(stderr, "library run %d failed\n", i), 1;
    json body = {{"input", "task"}, {"if_not_exists", "create"}};
    auto t0 = Clock::now();
    auto r = c.Post(("/threads/h-" + std::to_string(i) + "/runs/wait").c_str(), body.dump(), "application/json");
    http.push_back(ms(Clock::now() - t0));
    if (!r || r->status != 200 || json::parse(r->body)["status"] != "success") return std::fprintf(stderr, "HTTP run %d failed\n", i), 1;
  }
  for (int i = 0; i < n; ++i) {
    httplib::Request req;
    req.method = "POST";
    req.path = "/threads/s-" + std::to_string(i) + "/runs/stream";
    req.body = json{{"input", "task"}, {"if_not_exists", "create"}}.dump();
    req.set_header("Content-Type", "application/json");
    auto t0 = Clock::now();
    bool got = false;
    std::string buf;
    req.content_receiver = [&](const char* d, size_t len, uint64_t, uint64_t) {
      buf.append(d, len);
      if (!got && buf.find("event: updates") != std::string::npos) first.push_back(ms(Clock::now() - t0)), got = true;
      return true;
    };
    c.send(req);
    if (!got) return std::fprintf(stderr, "stream %d sent no step\n", i), 1;
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  fs::remove_all(dir);

  Stats l = stats(lib), h = stats(http), f = stats(first);
  std::printf("scripted run, %d each (ms)        p50      p99     mean\n", n);
  std::printf("library (Session::ask)        %8.2f %8.2f %8.2f\n", l.p50, l.p99, l.mean);
  std::printf("HTTP (POST runs/wait)         %8.2f %8.2f %8.2f\n", h.p50, h.p99, h.mean);
  std::printf("first streamed step event     %8.2f %8.2f %8.2f\n", f.p50, f.p99, f.mean);
  std::printf("HTTP / library (p50)          %8.2fx\n", h.p50 / l.p50);
  return 0;
}
