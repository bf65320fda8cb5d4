#include "persona/graphs.h"

#include "forge/forge.h"
#include "governance/governance.h"
#include "llm/model_manager.h"
#include "persona/agent.h"
#include "sandbox/sandbox.h"

namespace a4ps::persona {
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

// "propose-tool": proposes registering a tool, waits for a human's decision (across
// processes: the run stops until `a4ps approvals approve|reject` and `thread resume`),
// then registers it through the image store, or not.
graph::StateGraph propose_tool_graph(image::Image& img) {
  graph::StateGraph g;
  g.channel("name").channel("source").channel("proposal").channel("decision").channel("version");
  g.node("propose", [&img](const json& s, NodeContext&) {
    if (!s.contains("name") || !s.contains("source")) throw Error("input needs \"name\" and \"source\"");
    std::string name = s["name"], source = s["source"];
    auto cur = img.get(image::Kind::Tool, name);
    int64_t id = img.propose(image::ProposalKind::ToolRegister, name, {{"before", cur ? cur->content : ""}, {"after", source}});
    return json{{"proposal", id}};
  });
  g.node("decide", [&img](const json& s, NodeContext& ctx) {
    auto d = governance::await_decision(ctx, img, s["proposal"].get<int64_t>());
    return json{{"decision", d == governance::Decision::Approved ? "approved" : "rejected"}};
  });
  g.node("register", [&img](const json& s, NodeContext&) {
    return json{{"version", governance::apply(img, s["proposal"].get<int64_t>())}};
  });
  g.edge(graph::START, "propose").edge("propose", "decide");
  g.conditional("decide", [](const json& s) {
    return std::vector<std::string>{s["decision"] == "approved" ? "register" : graph::END};
  });
  g.edge("register", graph::END);
  return g;
}

// "act": CodeAct with doesNotUnderstand. Runs the code in the sandbox with the image's
// tools; when it calls a function nobody wrote, the Forge builds it from the call site,
// the run waits for a human's approval, the tool is registered, and the code runs again.
graph::StateGraph act_graph(image::Image& img) {
  graph::StateGraph g;
  g.channel("code").channel("model").channel("sandbox").channel("result").channel("proposal").channel("decision");
  g.channel("forged", graph::append(), json::array());
  g.node("act", [&img](const json& s, NodeContext&) {
    if (!s.contains("code")) throw Error("input needs \"code\"");
    auto k = forge::image_kernel(img, s.value("sandbox", ""));
    std::string code = s["code"];
    sandbox::Result r = k->run(code);
    json result = {{"ok", r.ok}, {"stdout", r.stdout_text}, {"value", r.value}, {"error_type", r.error_type}, {"error", r.error}};
    if (r.ok) return json{{"result", result}, {"proposal", nullptr}};
    forge::ToolSpec spec = forge::spec_from_name_error(*k, code, r);
    if (spec.name.empty() || s.value("model", "").empty()) return json{{"result", result}, {"proposal", nullptr}};
    llm::ModelManager mm;
    auto model = llm::open_backend(s["model"], mm, {"BRICK", {}, {}});
    spec.tests = "assert callable(" + spec.name + ")";
    auto f = forge::forge(spec, *model, *k, img);
    return json{{"result", result}, {"proposal", f.ok ? json(f.proposal) : json()},
                {"forged", {{"name", spec.name}, {"ok", f.ok}, {"attempts", f.attempts.size()}}}};
  });
  g.node("decide", [&img](const json& s, NodeContext& ctx) {
    auto d = governance::await_decision(ctx, img, s["proposal"].get<int64_t>());
    return json{{"decision", d == governance::Decision::Approved ? "approved" : "rejected"}};
  });
  g.node("register", [&img](const json& s, NodeContext&) {
    governance::apply(img, s["proposal"].get<int64_t>());
    return json{{"proposal", nullptr}};
  });
  g.edge(graph::START, "act");
  g.conditional("act", [](const json& s) {
    return std::vector<std::string>{s.value("proposal", json()).is_number() ? "decide" : graph::END};
  });
  g.conditional("decide", [](const json& s) {
    return std::vector<std::string>{s["decision"] == "approved" ? "register" : graph::END};
  });
  g.edge("register", "act");  // run the original code again, now that the tool exists
  return g;
}

}  // namespace

std::vector<std::string> builtin_graph_names() { return {"act", "agent", "count", "propose-tool", "review"}; }

graph::StateGraph builtin_graph(const std::string& name, image::Image& img) {
  if (name == "review") return review_graph();
  if (name == "count") return count_graph();
  if (name == "propose-tool") return propose_tool_graph(img);
  if (name == "act") return act_graph(img);
  if (name == kAgentGraph) return agent_graph(img);  // the model comes from the state
  throw Error("no graph named '" + name + "'; built-in graphs: act, agent, count, propose-tool, review");
}

}  // namespace a4ps::persona
