// bench_persona_switch: 4 personas on one 0.5B-shaped synthetic base (each with its own
// synthetic LoRA adapter), 20 turns round-robin, the same prompts and output lengths,
// under the ModelManager's switch policy (adapter swap + saved KV prefix) and under the
// reload policy (load and free the model per call: the seed's Ollama keep_alive 0).
//
//   bench_persona_switch [--turns N] [--tokens N] [--models DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "llm/model_manager.h"

namespace fs = std::filesystem;
using namespace a4ps::llm;

namespace {

struct Totals {
  double total = 0, decode = 0, prefill = 0, load = 0;
  int new_tokens = 0, reused = 0;
  double first_turn_other = 0;  // the first turn's non-generation time (includes the first load)
};

Totals run(Policy policy, const std::vector<Persona>& personas, int turns, int tokens) {
  ModelManager mm({.policy = policy, .n_ctx = 4096});
  std::vector<std::vector<Message>> history(personas.size());
  for (size_t i = 0; i < personas.size(); ++i)
    history[i].push_back({"system", "You are " + personas[i].name + ", one of four personas of one agent. Answer briefly."});
  Totals t;
  for (int turn = 0; turn < turns; ++turn) {
    size_t p = static_cast<size_t>(turn) % personas.size();
    history[p].push_back({"user", "Turn " + std::to_string(turn) + ": what do you make of the last step of the plan?"});
    auto t0 = std::chrono::steady_clock::now();
    ChatResult r = mm.chat(personas[p], {.messages = history[p], .max_tokens = tokens, .ignore_eos = true});
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    history[p].push_back({"assistant", r.text});
    if (turn == 0) t.first_turn_other = ms - r.decode_ms - r.prefill_ms;
    t.total += ms;
    t.decode += r.decode_ms;
    t.prefill += r.prefill_ms;
    t.load += r.load_ms;
    t.new_tokens += r.prompt_tokens - r.reused_tokens;
    t.reused += r.reused_tokens;
    std::fprintf(stderr, "\r  %s turn %d/%d", policy == Policy::Switch ? "switch" : "reload", turn + 1, turns);
  }
  std::fprintf(stderr, "\n");
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int turns = 20, tokens = 8;
  fs::path dir = "build/bench-models";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--turns") turns = std::atoi(argv[i + 1]);
    else if (a == "--tokens") tokens = std::atoi(argv[i + 1]);
    else if (a == "--models") dir = argv[i + 1];
  }
  fs::create_directories(dir);
  fs::path base = dir / "synthetic-qwen2-0.5b-q8_0.gguf";
  const std::string synth = A4PS_SYNTH;
  if (!fs::exists(base) &&
      std::system((synth + " --arch qwen2 --size 0.5b --type q8_0 -o '" + base.string() + "' >/dev/null").c_str()) != 0)
    return 1;
  std::vector<Persona> personas;
  for (std::string name : {"ALFRED", "BRICK", "ROBIN", "BABS"}) {
    fs::path lora = dir / ("synthetic-lora-" + name + ".gguf");
    if (!fs::exists(lora) &&
        std::system((synth + " --lora-for '" + base.string() + "' --seed " + std::to_string(name.size() * 7 + name[0]) +
                     " -o '" + lora.string() + "' >/dev/null").c_str()) != 0)
      return 1;
    personas.push_back({name, base, {{lora, 1.0f}}});
  }
  std::printf("4 personas on %s (synthetic, random weights), each with its own LoRA adapter;\n"
              "%d turns round-robin, %d generated tokens per turn\n\n", base.filename().c_str(), turns, tokens);
  Totals sw = run(Policy::Switch, personas, turns, tokens);
  Totals re = run(Policy::Reload, personas, turns, tokens);
  auto row = [&](const char* name, const Totals& t) {
    double overhead = (t.total - t.decode) / turns;
    std::printf("%-8s %9.2f s %9.2f s %9.2f s %9.2f s %12.1f ms %10d %8d\n", name, t.total / 1000, t.decode / 1000,
                t.prefill / 1000, t.load / 1000, overhead, t.new_tokens, t.reused);
  };
  std::printf("%-8s %11s %11s %11s %11s %15s %10s %8s\n", "policy", "total", "generate", "prefill", "load",
              "overhead/turn", "prefilled", "reused");
  row("switch", sw);
  row("reload", re);
  double o_sw = (sw.total - sw.decode) / turns, o_re = (re.total - re.decode) / turns;
  std::printf("\nnon-generation overhead per turn (everything but generating): switch %.1f ms, reload %.1f ms -> %.1fx less\n",
              o_sw, o_re, o_re / o_sw);
  // Both policies must prefill each turn's new tokens; what differs is everything else.
  double x_sw = (sw.total - sw.decode - sw.prefill) / turns;
  double x_re = (re.total - re.decode - re.prefill) / turns + (re.prefill - sw.prefill) / turns;
  std::printf("beyond prefilling the new tokens of each turn: switch %.2f ms, reload %.1f ms (load + re-prefill) -> %.0fx less\n",
              x_sw, x_re, x_re / x_sw);
  double steady = (sw.total - sw.decode - sw.prefill - sw.first_turn_other) / (turns - 1);
  std::printf("the same after the switch policy's one-time first load (steady state): switch %.2f ms -> %.0fx less\n",
              steady, x_re / steady);
  return 0;
}
