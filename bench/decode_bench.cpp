// bench_decode: prefill and decode through the ModelManager (the path every persona call
// takes: chat template, tokenizer, prefix cache, sampler chain, piece decoding) against
// llama.cpp's llama-bench (pp and tg: the raw llama_decode rate, no sampling) on the same
// synthetic Qwen2-0.5B-shaped GGUF (q8_0), the same threads, in one run, rounds interleaved.
//
//   bench_decode [--rounds R] [--prompt P] [--tokens T] [--threads N] [--temp X] [--models DIR]
//
// Ours: prefill = P prompt tokens / prefill time (a cold KV cache each round); decode =
// generated tokens / generation time, with a persona's sampling (temperature 0.2, the
// built-in personas' range) — sampling is part of our figure, not of llama-bench's.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "llm/model_manager.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace a4ps::llm;

namespace {

struct Rates {
  double pp = 0, tg = 0;
};

// One llama-bench round: pp P and tg T, one repetition each, parsed from its JSON output.
Rates llama_bench(const fs::path& model, int prompt, int tokens, int threads, const fs::path& out) {
  std::string cmd = std::string(A4PS_LLAMA_BENCH) + " -m '" + model.string() + "' -t " + std::to_string(threads) +
                    " -p " + std::to_string(prompt) + " -n " + std::to_string(tokens) + " -r 1 -o json > '" +
                    out.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "llama-bench failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  std::ifstream in(out);
  json j = json::parse(in, nullptr, false);
  Rates r;
  if (!j.is_array()) return r;
  for (auto& t : j) {
    double ts = t.value("avg_ts", 0.0);
    if (t.value("n_prompt", 0) > 0 && t.value("n_gen", 0) == 0) r.pp = ts;
    if (t.value("n_gen", 0) > 0 && t.value("n_prompt", 0) == 0) r.tg = ts;
  }
  return r;
}

// A user message of about n tokens of plain words.
std::string words(int n) {
  static const char* w[] = {"lighthouse", "keeper", "storm", "harbour", "lamp", "night", "ship", "rock", "tide", "bell"};
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(w[i % 10]) + (i % 10 == 9 ? ". " : " ");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3, prompt = 512, tokens = 128;
  float temp = 0.2f;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  fs::path dir = "build/bench-models";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--prompt") prompt = std::max(8, std::atoi(argv[i + 1]));
    else if (a == "--tokens") tokens = std::max(2, std::atoi(argv[i + 1]));
    else if (a == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--temp") temp = std::max(0.0f, static_cast<float>(std::atof(argv[i + 1])));
    else if (a == "--models") dir = argv[i + 1];
  }
  if (!fs::exists(A4PS_LLAMA_BENCH))
    return std::fprintf(stderr, "llama-bench not built at %s\n", A4PS_LLAMA_BENCH), 1;
  fs::create_directories(dir);
  fs::path model = dir / "synthetic-qwen2-0.5b-q8_0.gguf";
  if (!fs::exists(model) &&
      std::system((std::string(A4PS_SYNTH) + " --arch qwen2 --size 0.5b --type q8_0 -o '" + model.string() + "' >/dev/null")
                      .c_str()) != 0)
    return std::fprintf(stderr, "a4ps-synth-gguf failed\n"), 1;

  ModelManager mm({.n_ctx = 4096, .n_threads = threads});
  Persona p{"BRICK", model, {}};
  Sampling sampling{.temperature = temp, .top_p = 1, .top_k = 0, .seed = 7};
  // The long prompt, sized once so that the templated text is `prompt` tokens or a few more.
  std::string long_ask = words(prompt);
  mm.chat(p, {.messages = {{"user", words(8)}}, .max_tokens = 2});  // load once: not measured
  {
    ChatResult probe = mm.chat(p, {.messages = {{"user", long_ask}}, .max_tokens = 1});
    int n = prompt;
    while (probe.prompt_tokens > prompt && n > 8) {  // trim to the target
      n -= std::max(1, (probe.prompt_tokens - prompt) / 2);
      long_ask = words(n);
      mm.forget("BRICK");
      probe = mm.chat(p, {.messages = {{"user", long_ask}}, .max_tokens = 1});
    }
  }

  std::vector<double> our_pp, our_tg, peer_pp, peer_tg;
  int prompt_tokens = 0, generated = 0;
  fs::path out = fs::temp_directory_path() / ("a4ps-bench-decode-" + std::to_string(getpid()) + ".json");
  for (int r = 0; r < rounds; ++r) {
    std::fprintf(stderr, "\r  round %d/%d", r + 1, rounds);
    Rates peer = llama_bench(model, prompt, tokens, threads, out);
    peer_pp.push_back(peer.pp);
    peer_tg.push_back(peer.tg);
    mm.forget("BRICK");  // a cold KV cache: the whole prompt is evaluated
    ChatResult pre = mm.chat(p, {.messages = {{"user", long_ask}}, .max_tokens = 1});
    prompt_tokens = pre.prompt_tokens;
    our_pp.push_back(pre.prompt_tokens * 1000.0 / pre.prefill_ms);
    mm.forget("BRICK");
    ChatResult gen = mm.chat(p, {.messages = {{"user", "Tell a story."}}, .sampling = sampling, .max_tokens = tokens,
                                 .ignore_eos = true});
    generated = gen.completion_tokens;
    our_tg.push_back(gen.completion_tokens * 1000.0 / gen.decode_ms);
  }
  std::fprintf(stderr, "\n");
  fs::remove(out);
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return std::make_pair(v.front(), v.back());
  };
  std::printf("%s (synthetic, random weights), %d threads, %d rounds interleaved\n", model.filename().c_str(), threads,
              rounds);
  std::printf("%-34s %12s %18s\n", "", "tokens/s", "min .. max");
  auto row = [&](const char* name, const std::vector<double>& v) {
    auto [lo, hi] = spread(v);
    std::printf("%-34s %12.1f %9.1f .. %-8.1f\n", name, mean(v), lo, hi);
  };
  std::string pp_name = "prefill, a4ps (" + std::to_string(prompt_tokens) + " tokens)";
  std::string ppp_name = "prefill, llama-bench pp" + std::to_string(prompt);
  char t_buf[32];
  std::snprintf(t_buf, sizeof t_buf, "%.2g", temp);
  std::string tg_name = "decode, a4ps (" + std::to_string(generated) + " tokens, T=" + t_buf + ")";
  std::string tgp_name = "decode, llama-bench tg" + std::to_string(tokens);
  row(pp_name.c_str(), our_pp);
  row(ppp_name.c_str(), peer_pp);
  row(tg_name.c_str(), our_tg);
  row(tgp_name.c_str(), peer_tg);
  std::printf("a4ps / llama-bench: prefill %.2fx, decode %.2fx\n", mean(our_pp) / mean(peer_pp), mean(our_tg) / mean(peer_tg));
  return 0;
}
