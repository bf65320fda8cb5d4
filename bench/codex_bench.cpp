// bench_codex: the cost of checking every event against 50 codex rules.
//
//   bench_codex [--events N]
//
// Monitors step over a realistic mix of A4PS events (payload parsed once per event, as
// the image guard does). The target: well under 10 us per event with 50 rules.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "codex/codex.h"

using namespace a4ps;
using codex::json;

int main(int argc, char** argv) {
  int64_t n = 200000;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--events") n = std::atoll(argv[i + 1]);

  // 5 built-in rules + 45 of the shapes users write: implications over kinds, payload
  // comparisons, once / previously / since / always.
  codex::Codex c = codex::default_codex();
  const char* kinds[] = {"tool", "persona", "adapter", "memory", "thread", "proposal", "sandbox", "image", "codex"};
  for (int i = 0; c.rules.size() < 50; ++i) {
    std::string k = kinds[i % 9], check;
    switch (i % 5) {
      case 0: check = "kind == \"" + k + ".x" + std::to_string(i) + "\" -> previously(kind == \"proposal.applied\")"; break;
      case 1: check = "kind == \"sandbox.run\" and payload.provider == \"none\" -> once(kind == \"" + k + ".ok\")"; break;
      case 2: check = "not (kind == \"" + k + ".removed\" and payload.version > " + std::to_string(100 + i) + ")"; break;
      case 3: check = "kind != \"" + k + ".halt\" since kind == \"image.created\" or seq < 2"; break;
      case 4: check = "always(actor != \"intruder" + std::to_string(i) + "\")"; break;
    }
    c.rules.push_back({"r" + std::to_string(i), check, "", false});
  }
  codex::Monitor m(c);

  std::vector<image::Event> events;
  const std::vector<std::pair<std::string, json>> shapes = {
      {"thread.started", {{"thread", "t1"}, {"status", "running"}, {"graph", "main"}}},
      {"memory.added", {{"id", 42}, {"source", "notes.md"}, {"sha256", std::string(64, 'a')}}},
      {"sandbox.run", {{"provider", "gvisor"}, {"network", "none"}}},
      {"proposal.created", {{"id", 7}, {"kind", "tool.register"}, {"target", "add"}}},
      {"thread.finished", {{"thread", "t1"}, {"status", "done"}, {"graph", "main"}}}};
  events.push_back({1, "t", "image.created", "a4ps", json({{"image_id", "x"}, {"name", "n"}, {"schema", 1}}).dump(), "", ""});
  for (int64_t i = 2; i <= 1000; ++i) {
    auto& s = shapes[static_cast<size_t>(i) % shapes.size()];
    events.push_back({i, "t", s.first, "a4ps", s.second.dump(), "", ""});
  }

  size_t violations = 0;
  for (int64_t i = 0; i < 2000; ++i) {  // warm up
    violations += m.step(events[static_cast<size_t>(i) % events.size()]).size();
    m.commit();
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) {
    auto e = events[static_cast<size_t>(i) % events.size()];
    e.seq = i + 1;
    violations += m.step(e).size();
    m.commit();
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%zu rules, %lld events: %.2f us per event (%.0f events/s), %zu state values in all, %zu violations\n",
              m.rules(), static_cast<long long>(n), s / n * 1e6, n / s, m.state_size(), violations);
  std::printf("target: well under 10 us per event -> %s\n", s / n * 1e6 < 10 ? "met" : "NOT met");
  return 0;
}
