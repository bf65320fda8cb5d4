// Graphs shared by the graph tests and the crash child.
#pragma once
#include <chrono>
#include <thread>

#include "graph/graph.h"

namespace a4ps::test {

// A 3-node loop: inc adds 1 to i, mix folds i into a running hash, log keeps every
// 100th value; it ends when i reaches `steps_to`. Deterministic: the same input always
// gives the same final state, however the run was interrupted.
inline graph::StateGraph loop_graph(int64_t until, int delay_us = 0) {
  using namespace graph;
  StateGraph g;
  g.channel("i", add(), 0).channel("acc", replace(), 1).channel("log", append(), json::array());
  g.node("inc", [delay_us](const json&, NodeContext&) {
    if (delay_us) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    return json{{"i", 1}};
  });
  g.node("mix", [](const json& s, NodeContext&) {
    uint64_t acc = s["acc"].get<uint64_t>();
    acc = (acc * 6364136223846793005ULL + s["i"].get<uint64_t>()) % 1000000007ULL;
    return json{{"acc", acc}};
  });
  g.node("log", [](const json& s, NodeContext&) {
    return s["i"].get<int64_t>() % 100 == 0 ? json{{"log", s["i"]}} : json::object();
  });
  g.edge(START, "inc").edge("inc", "mix").edge("mix", "log");
  g.conditional("log", [until](const json& s) {
    return std::vector<std::string>{s["i"].get<int64_t>() >= until ? END : "inc"};
  });
  return g;
}

}  // namespace a4ps::test
