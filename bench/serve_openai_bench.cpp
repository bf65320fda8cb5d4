// bench_serve_openai: /v1/chat/completions, streamed, on a synthetic Qwen2-0.5B-shaped GGUF
// (a4ps-synth-gguf, q8_0) through `a4ps serve` (the persona model a4ps/BRICK) against
// llama.cpp's own llama-server on the same file, the same thread count (every core) and the
// same prompt — llama-server is sent BRICK's system prompt (its character and the codex) as
// a system message, so both evaluate the same tokens and greedy decoding yields the same
// reply — interleaved in one run. Prints time to first token and decode tokens/s for both,
// and the ratios. Random weights: the text means nothing, the speed is real.
//
//   build/bench/bench_serve_openai [--n N] [--tokens T] [--dir DIR]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "a4ps/image.h"
#include "a4ps/personas.h"
#include "bench_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using a4ps::bench::Clock;
using a4ps::bench::ms;
using a4ps::bench::spawn;

namespace {

int free_port() {  // the kernel's pick for port 0, released for llama-server to take
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

struct Sample {
  double ttft = 0, total = 0;
  int tokens = 0, prompt_tokens = 0;
  double decode_tps() const { return tokens > 1 && total > ttft ? (tokens - 1) * 1000.0 / (total - ttft) : 0; }
};

// One streamed completion: when the first piece of text came, when the stream ended, and
// the token counts the server reports (usage), else the content chunks.
const char* kAsk = "Write a long story about a lighthouse keeper.";

Sample stream_once(int port, const std::string& model, int max_tokens, const std::string& system) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  json messages = json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", kAsk}});
  json body = {{"model", model}, {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"max_tokens", max_tokens},
               {"temperature", 0}, {"messages", messages}};
  Sample s;
  int chunks = 0;
  std::string buf;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  auto t0 = Clock::now();
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    buf.append(d, n);
    size_t p;
    while ((p = buf.find("\n\n")) != std::string::npos) {
      std::string ev = buf.substr(0, p);
      buf.erase(0, p + 2);
      if (ev.rfind("data: {", 0) != 0) continue;
      json j = json::parse(ev.substr(6), nullptr, false);
      if (!j.is_object()) continue;
      for (auto& ch : j.value("choices", json::array()))
        if (ch.contains("delta") && ch["delta"].value("content", json("")).is_string() && !ch["delta"].value("content", "").empty()) {
          if (chunks++ == 0) s.ttft = ms(Clock::now() - t0);
        }
      if (j.contains("usage") && j["usage"].is_object()) {
        s.tokens = j["usage"].value("completion_tokens", 0);
        s.prompt_tokens = j["usage"].value("prompt_tokens", 0);
      }
    }
    return true;
  };
  auto r = c.send(req);
  s.total = ms(Clock::now() - t0);
  if (!r || r->status != 200) {
    std::fprintf(stderr, "%s on port %d failed: %s\n", model.c_str(), port, r ? r->body.c_str() : "no response");
    std::exit(1);
  }
  if (s.tokens == 0) s.tokens = chunks;
  return s;
}

struct Summary {
  double ttft = 0, tps = 0, tokens = 0, prompt_tokens = 0;
};
Summary mean(const std::vector<Sample>& v) {
  Summary m;
  for (auto& s : v) m.ttft += s.ttft, m.tps += s.decode_tps(), m.tokens += s.tokens, m.prompt_tokens += s.prompt_tokens;
  double n = static_cast<double>(v.size());
  return {m.ttft / n, m.tps / n, m.tokens / n, m.prompt_tokens / n};
}

}  // namespace

int main(int argc, char** argv) {
  int n = 5, tokens = 64;
  fs::path base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::max(2, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--dir")) base = argv[i + 1];
  }
  if (!fs::exists(A4PS_LLAMA_SERVER))
    return std::fprintf(stderr, "llama-server not found at %s; run scripts/setup.sh (it builds it)\n", A4PS_LLAMA_SERVER), 1;
  std::string tmpl = (base / "a4ps-bench-XXXXXX").string();
  fs::path dir = mkdtemp(tmpl.data());
  fs::path gguf = dir / "synthetic-qwen2-0.5b-q8_0.gguf", img = dir / "bench.a4ps";
  std::string cmd = std::string(A4PS_SYNTH) + " --arch qwen2 --size 0.5b --type q8_0 -o '" + gguf.string() + "' >/dev/null";
  std::fprintf(stderr, "bench: writing the synthetic model\n");
  if (std::system(cmd.c_str()) != 0) return std::fprintf(stderr, "a4ps-synth-gguf failed\n"), 1;
  if (std::system((std::string(A4PS_BIN) + " image init '" + img.string() + "' >/dev/null").c_str()) != 0)
    return std::fprintf(stderr, "a4ps image init failed\n"), 1;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  // What BRICK's calls carry before the user's message: llama-server gets it verbatim.
  std::string brick_system = a4ps::persona_system_prompt(a4ps::Image::open(img.string(), {.read_only = true}), "BRICK");

  std::fprintf(stderr, "bench: model and image ready; starting both servers\n");
  int a_err;
  pid_t a = spawn({A4PS_BIN, "serve", img.string(), "--listen", "127.0.0.1:0", "-m", gguf.string()}, &a_err);
  int lport = free_port();
  pid_t l = spawn({A4PS_LLAMA_SERVER, "-m", gguf.string(), "--host", "127.0.0.1", "--port", std::to_string(lport), "-t",
                   std::to_string(threads), "-tb", std::to_string(threads), "-c", "4096", "-np", "1"},
                  nullptr, dir / "llama-server.log");
  if (a < 0 || l < 0) return std::fprintf(stderr, "cannot start the servers\n"), 1;
  std::string log;
  std::smatch m;
  std::regex re(R"(on http://127\.0\.0\.1:(\d+))");
  char b[512];
  for (ssize_t k; !std::regex_search(log, m, re) && (k = read(a_err, b, sizeof b)) > 0;) log.append(b, static_cast<size_t>(k));
  if (!std::regex_search(log, m, re)) return std::fprintf(stderr, "a4ps serve did not start: %s\n", log.c_str()), 1;
  int aport = std::stoi(m[1]);
  httplib::Client lc("127.0.0.1", lport);
  for (int i = 0;; ++i) {  // llama-server answers 503 while it loads the model
    auto r = lc.Get("/health");
    if (r && r->status == 200) break;
    if (i > 600 || waitpid(l, nullptr, WNOHANG) == l) {
      kill(a, SIGTERM);
      return std::fprintf(stderr, "llama-server did not become ready; see %s\n", (dir / "llama-server.log").c_str()), 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "bench: both servers up; warming up\n");
  // One warm-up each (a4ps loads the model on the first call), then interleaved requests.
  stream_once(aport, "a4ps/BRICK", 4, "");
  stream_once(lport, "synthetic", 4, brick_system);
  std::vector<Sample> as, ls;
  for (int i = 0; i < n; ++i) {
    as.push_back(stream_once(aport, "a4ps/BRICK", tokens, ""));
    ls.push_back(stream_once(lport, "synthetic", tokens, brick_system));
  }
  kill(a, SIGTERM);
  kill(l, SIGTERM);
  waitpid(a, nullptr, 0);
  waitpid(l, nullptr, 0);
  fs::remove_all(dir);

  Summary am = mean(as), lm = mean(ls);
  std::printf("synthetic qwen2 0.5b q8_0, %u threads, %d streamed requests each, max_tokens %d, temperature 0\n", threads, n, tokens);
  std::printf("                               TTFT ms   decode tok/s   tokens   prompt tokens\n");
  std::printf("a4ps serve (a4ps/BRICK)      %9.1f   %12.1f   %6.0f   %13.0f\n", am.ttft, am.tps, am.tokens, am.prompt_tokens);
  std::printf("llama-server                 %9.1f   %12.1f   %6.0f   %13.0f\n", lm.ttft, lm.tps, lm.tokens, lm.prompt_tokens);
  std::printf("a4ps / llama-server: TTFT %.2fx, decode rate %.2fx\n", am.ttft / lm.ttft, am.tps / lm.tps);
  if (am.prompt_tokens != lm.prompt_tokens)
    std::printf("note: the prompts differ in length (%.0f vs %.0f tokens): the chat templates rendered them differently\n",
                am.prompt_tokens, lm.prompt_tokens);
  else
    std::printf("both evaluated the same %.0f-token prompt (BRICK's system prompt and the user's message)\n", am.prompt_tokens);
  return 0;
}
