#include "graphs.h"

namespace a4ps::cli {
namespace {

using graph::json;
using graph::NodeContext;

// "review": writes a draft, asks a human to approve it (an interrupt), then records the
// outcome. A small, real example of a run that stops for a person and resumes later,
// also from another process.
graph::StateGraph review_graph() {
  graph::StateGraph g;
  g.channel("topic").channel("draft").channel("verdict").channel("log", graph::append(), json::array());
  g.node("write", [](const json& s, NodeContext&) {
    std::string topic = s.value("topic", "nothing in particular");
    return json{{"draft", "A short note on " + topic + "."}, {"log", "drafted"}};
  });
  g.node("review", [](const json& s, NodeContext& ctx) {
    json answer = ctx.interrupt({{"question", "Approve this draft? Resume with yes or no."}, {"draft", s["draft"]}});
    return json{{"verdict", answer}, {"log", "reviewed"}};
  });
  g.node("publish", [](const json&, NodeContext&) { return json{{"log", "published"}}; });
  g.node("discard", [](const json&, NodeContext&) { return json{{"log", "discarded"}}; });
  g.edge(graph::START, "write").edge("write", "review");
  g.conditional("review", [](const json& s) {
    json v = s.value("verdict", json());
    bool yes = v == true || v == "yes" || v == "y" || v == "approve";
    return std::vector<std::string>{yes ? "publish" : "discard"};
  });
  g.edge("publish", graph::END).edge("discard", graph::END);
  return g;
}

// "count": loops n times; handy for trying history, edits and forks.
graph::StateGraph count_graph() {
  graph::StateGraph g;
  g.channel("n", graph::replace(), 3).channel("i", graph::add(), 0);
  g.node("tick", [](const json&, NodeContext&) { return json{{"i", 1}}; });
  g.edge(graph::START, "tick");
  g.conditional("tick", [](const json& s) {
    return std::vector<std::string>{s["i"].get<int64_t>() >= s["n"].get<int64_t>() ? graph::END : "tick"};
  });
  return g;
}

}  // namespace

std::vector<std::string> builtin_graph_names() { return {"count", "review"}; }

graph::StateGraph builtin_graph(const std::string& name) {
  if (name == "review") return review_graph();
  if (name == "count") return count_graph();
  throw Error("no graph named '" + name + "'; built-in graphs: count, review");
}

}  // namespace a4ps::cli
