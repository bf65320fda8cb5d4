#include "persona/agent.h"

#include <cstdlib>
#include <map>
#include <memory>

#include "codex/codex.h"
#include "forge/forge.h"
#include "governance/governance.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "memory/memory.h"
#include "persona/persona.h"
#include "persona/turn.h"
#include "sandbox/sandbox.h"

namespace a4ps::persona {
namespace {

using graph::json;
using graph::NodeContext;
namespace fs = std::filesystem;

// Which task of the conversation a turn belongs to: the answers given before it.
int task_no(const json& state) { return static_cast<int>(state.value("history", json::array()).size()); }

// Prompts and transcripts are JSON: cut text at a character boundary.
std::string clip(std::string_view s, size_t n) { return utf8_clip(s, n); }

// The first fenced code block of a model's answer, or "" when it wrote none.
std::string code_block(const std::string& text) {
  if (text.find("```") == std::string::npos) return "";
  std::string code = forge::extract_code(text);
  return code.find_first_not_of(" \t\r\n") == std::string::npos ? "" : code;
}

std::string result_text(const json& r) {
  if (r.is_null()) return "";
  if (r.value("ok", false)) {
    std::string out = r.value("stdout", "");
    std::string v = r.value("value", "");
    if (!v.empty() && v != "None") out += (out.empty() ? "" : "\n") + std::string("value: ") + v;
    return "it ran" + (out.empty() ? std::string(" and printed nothing") : ":\n" + clip(out, 1500));
  }
  return "it failed: " + r.value("error_type", std::string("error")) + ": " + clip(r.value("error", ""), 800);
}

// Everything one graph run needs beyond the state: models, the sandbox, the codex.
struct Runtime {
  image::Image& img;
  AgentOptions opts;
  codex::Codex codex;
  std::unique_ptr<llm::ModelManager> mm;
  struct Bound {
    std::unique_ptr<llm::Backend> backend;
    std::string key;      // model + adapter files it was opened with
    std::string adapter;  // "name vN" of the adapter, "" for none
  };
  std::map<std::string, Bound> backends;  // by persona
  std::unique_ptr<sandbox::Kernel> kernel;
  std::string kernel_error;

  // What an Imagefile gave the image (initialised from img, which is declared before them):
  std::string preamble = img.setting("system");       // SYSTEM: every persona's prompt starts with it
  std::string parameters = img.setting("parameters");  // PARAMETERs: sampling defaults, JSON
  json seed = seed_conversation(img, preamble);        // MESSAGEs: [{task, answer}]

  // The image's seed conversation: each user message and the assistant reply after it are
  // an earlier exchange; system messages join the preamble.
  static json seed_conversation(const image::Image& img, std::string& preamble) {
    json out = json::array();
    json msgs = json::parse(img.setting("messages").empty() ? "[]" : img.setting("messages"), nullptr, false);
    if (!msgs.is_array()) return out;
    for (auto& m : msgs) {
      std::string role = m.value("role", ""), content = m.value("content", "");
      if (role == "system") preamble += (preamble.empty() ? "" : "\n\n") + content;
      else if (role == "user") out.push_back({{"task", content}, {"answer", ""}});
      else if (role == "assistant" && !out.empty() && out.back()["answer"] == "") out.back()["answer"] = content;
    }
    return out;
  }

  Runtime(image::Image& i, AgentOptions o) : img(i), opts(std::move(o)) {
    codex = codex::image_codex(img);
  }

  // The persona that does `action` (route, answer, act, critique, retrieve): roles come
  // from the personas' data, the first that can in load_all's order (built-ins first), so
  // an image may hand a role to another persona.
  Spec who(const std::string& action) const {
    for (auto& p : load_all(img))
      if (p.can(action)) return p;
    throw Error("no persona of this image can " + action + "; see `a4ps persona ls`");
  }

  Spec spec(const std::string& name) const {
    auto s = find(img, name);
    if (!s) throw Error("the image has no persona " + name + "; see `a4ps persona ls`");
    return *s;
  }

  std::string model_of(const Spec& p, const json& state) const {
    if (!p.model.empty()) return p.model;
    if (!opts.model.empty()) return opts.model;
    std::string m = state.value("model", "");
    if (m.empty()) throw Error("no model for " + p.name + "; pass --model or set A4PS_MODEL");
    return m;
  }

  llm::ModelManager& manager() {
    if (opts.manager) return *opts.manager;
    if (!mm) mm = std::make_unique<llm::ModelManager>(llm::ManagerOptions{.n_ctx = opts.n_ctx, .n_threads = opts.n_threads});
    return *mm;
  }

  // A persona's adapter as a file llama.cpp can load (stored once per sha256).
  std::vector<llm::Adapter> adapters(const Spec& p, const std::string& model, std::string& name) {
    // Every turn asks: read the two meta keys, not info() (which counts the whole image).
    std::string base_path = img.meta("base_model_path");
    std::error_code ec;  // the same file, however the model was named (relative, absolute)
    bool base = !base_path.empty() && (fs::path(model) == fs::path(base_path) || fs::equivalent(model, base_path, ec));
    auto file_of = [&](const image::Object& a) {
      fs::path f = llm::models_dir() / "adapters" / (a.blob_sha256 + ".gguf");
      if (!fs::exists(f)) {
        fs::create_directories(f.parent_path());
        write_file(f, img.blob(a.blob_sha256));
      }
      return f;
    };
    std::vector<llm::Adapter> out;
    // The image-wide stack (an Imagefile's ADAPTER lines), in order, each with its scale,
    // on the base model it was built for; then the persona's own adapter.
    if (base) {
      json stack = json::parse(img.setting("adapters").empty() ? "[]" : img.setting("adapters"), nullptr, false);
      if (stack.is_array())
        for (auto& s : stack) {
          auto a = img.get(image::Kind::Adapter, s.value("name", ""));
          if (!a || a->removed) continue;
          out.push_back({file_of(*a), s.value("scale", 1.0f)});
          name += (name.empty() ? "" : " + ") + a->name + " v" + std::to_string(a->version);
        }
    }
    auto a = adapter_for(img, p, base ? img.meta("base_model_sha256") : "");
    if (!a) return out;
    name += (name.empty() ? "" : " + ") + a->name + " v" + std::to_string(a->version);
    out.push_back({file_of(*a), 1.0f});
    return out;
  }

  // The persona's backend; rebuilt when its adapter changed (an approved adapter is
  // hot-swapped into a running conversation at its next turn).
  Bound& bound(const Spec& p, const json& state) {
    std::string m = model_of(p, state), adapter;
    llm::Persona lp{p.name, {}, {}};
    bool local = m.find(':') == std::string::npos || m.rfind("/", 0) == 0 || m.rfind(".", 0) == 0;
    if (local) {
      lp.model = m;
      lp.adapters = adapters(p, m, adapter);
    }
    std::string key = m;
    for (auto& a : lp.adapters) key += "|" + a.path.string();
    auto& b = backends[p.name];
    if (!b.backend || b.key != key) b = {llm::open_backend(m, manager(), lp), key, adapter};
    return b;
  }
  llm::Backend& backend(const Spec& p, const json& state) { return *bound(p, state).backend; }

  // One turn of a persona: its system prompt, the user message, and its answer.
  json turn(const Spec& p, const json& state, const std::string& kind, const std::string& user,
            const std::string& schema = "", bool stream = false) {
    llm::ChatRequest req;
    req.messages = {{"system", preamble.empty() ? system_prompt(p, codex) : preamble + "\n\n" + system_prompt(p, codex)}, {"user", user}};
    req.sampling = sampling_for(p, parameters);
    req.max_tokens = opts.max_tokens > 0 ? std::min(opts.max_tokens, p.max_tokens) : p.max_tokens;
    req.json_schema = schema;
    if (!schema.empty()) req.max_tokens = std::max(req.max_tokens, 512);  // the schema bounds the JSON well below this
    if (stream && opts.on_token) req.on_token = [&](std::string_view piece) { opts.on_token(p.name, piece); return true; };
    Bound& b = bound(p, state);
    auto r = b.backend->chat(req);
    json prompt = json::array();
    for (auto& m : req.messages) prompt.push_back({{"role", m.role}, {"content", m.content}});
    return {{"persona", p.name}, {"kind", kind}, {"content", utf8_clean(r.text)}, {"prompt", prompt},
            {"task", task_no(state)}, {"tokens", r.completion_tokens}, {"adapter", b.adapter}};
  }

  sandbox::Kernel* sandbox() {
    if (kernel) return kernel.get();
    if (!kernel_error.empty()) return nullptr;
    try {
      kernel = forge::image_kernel(img, opts.sandbox, {}, opts.kernel);
    } catch (const Error& e) {
      kernel_error = e.what();
      return nullptr;
    }
    return kernel.get();
  }

  json run_code(const std::string& code) {
    auto* k = sandbox();
    if (!k) return {{"ok", false}, {"error_type", "SandboxUnavailable"}, {"error", kernel_error + " (see `a4ps doctor`)"}};
    auto r = k->run(code);
    return {{"ok", r.ok}, {"stdout", r.stdout_text}, {"value", r.value}, {"error_type", r.error_type}, {"error", r.error}};
  }

  // What has happened in this task, for ALFRED's eyes: one line per turn.
  static std::string story(const json& state) {
    std::string out;
    int task = task_no(state);
    std::vector<json> turns;
    for (auto& e : state.value("transcript", json::array()))
      if (e.value("task", 0) == task) turns.push_back(e);
    // The newest turns only: prompts must fit a small model's context.
    constexpr size_t kShown = 10;
    if (turns.size() > kShown) {
      out += "- (" + std::to_string(turns.size() - kShown) + " earlier turns left out)\n";
      turns.erase(turns.begin(), turns.end() - kShown);
    }
    for (auto& e : turns) {
      out += turn_line(e, 400);
      if (e.contains("result")) out += "  result: " + clip(result_text(e["result"]), 400) + "\n";
    }
    return out.empty() ? "- nothing yet\n" : out;
  }

  // The seed conversation, then the newest exchanges of this one.
  std::string conversation(const json& state) const {
    std::string out;
    auto h = state.value("history", json::array());
    size_t from = h.size() > 3 ? h.size() - 3 : 0;
    for (auto& e : seed)
      out += "Earlier, the user asked: " + clip(e.value("task", ""), 300) + "\nYou answered: " + clip(e.value("answer", ""), 500) + "\n";
    for (size_t i = from; i < h.size(); ++i)
      out += "Earlier, the user asked: " + clip(h[i].value("task", ""), 300) + "\nYou answered: " +
             clip(h[i].value("answer", ""), 500) + "\n";
    return out.empty() ? "" : out + "\n";
  }
};

std::string route_schema(const std::vector<std::string>& choices) {
  json s = {{"type", "object"},
            {"properties", {{"next", {{"type", "string"}, {"enum", choices}}},
                            {"brief", {{"type", "string"}, {"maxLength", 120}}}}},
            {"required", {"next", "brief"}},
            {"additionalProperties", false}};
  return s.dump();
}

const std::string kCritiqueSchema =
    json{{"type", "object"},
         {"properties", {{"verdict", {{"type", "string"}, {"enum", {"accept", "revise"}}}},
                         {"reasons", {{"type", "string"}, {"maxLength", 240}}}}},
         {"required", {"verdict", "reasons"}},
         {"additionalProperties", false}}
        .dump();

// The nodes of the agent graph, one function each.

// ALFRED decides who works next, as JSON a grammar forces into shape.
json route_node(Runtime& rt, const json& s) {
  if (!s.contains("task") || !s["task"].is_string() || s["task"].get<std::string>().empty())
    throw Error("the agent needs a task: input {\"task\": \"...\"}");
  Spec alfred = rt.who("route");
  int turns = s.value("turns", 0) + 1;
  std::vector<std::string> choices;
  std::string who;
  for (auto& p : load_all(rt.img)) {
    if (p.can("route") || !(p.can("act") || p.can("critique") || p.can("retrieve") || p.can("respond"))) continue;
    choices.push_back(p.name);
    who += "- " + p.name + ": " + p.role + "\n";
  }
  choices.push_back("ANSWER");
  if (turns > rt.opts.max_turns)
    return json{{"route", {{"next", "ANSWER"}, {"brief", "the turn limit is reached"}, {"parsed", true}}}, {"turns", turns}};
  std::string user = rt.conversation(s) + "Task: " + s["task"].get<std::string>() + "\n\nWho can work on it:\n" + who +
                     "- ANSWER: you write the final answer now\n\nWhat has happened so far:\n" + Runtime::story(s) +
                     "\nThis is routing turn " + std::to_string(turns) + " of at most " + std::to_string(rt.opts.max_turns) +
                     ". Reply with JSON: {\"next\": one of the names above, \"brief\": one sentence for them}.";
  json t = rt.turn(alfred, s, "route", user, route_schema(choices));
  json r = json::parse(t["content"].get<std::string>(), nullptr, false);
  bool ok = r.is_object() && r.contains("next") && r["next"].is_string() &&
            std::find(choices.begin(), choices.end(), r["next"].get<std::string>()) != choices.end();
  json route = ok ? json{{"next", r["next"]}, {"brief", r.value("brief", "")}, {"parsed", true}}
                  : json{{"next", "ANSWER"}, {"brief", "my routing reply did not parse; answering"}, {"parsed", false}};
  t["route"] = route;
  return json{{"route", route}, {"turns", turns}, {"transcript", json::array({t})}};
}

// BRICK works: writes code and runs it, or reasons in steps.
json brick_node(Runtime& rt, const json& s) {
  Spec brick = rt.who("act");
  std::string user = rt.conversation(s) + "Task: " + s["task"].get<std::string>() + "\n";
  bool revising = s["critique"].is_object() && s["critique"].value("back_to_brick", false);
  if (!revising && s["route"].is_object()) user += rt.who("route").name + " asks: " + s["route"].value("brief", "") + "\n";
  if (s["notes"].is_object()) user += "\n" + rt.who("retrieve").name + " found:\n" + clip(s["notes"].value("text", ""), 1500) + "\n";
  if (revising && s["draft"].is_object()) {
    user += "\nYour previous attempt:\n" + clip(s["draft"].value("text", ""), 1500) + "\n";
    if (s["draft"].contains("result")) user += "Result: " + result_text(s["draft"]["result"]) + "\n";
    user += rt.who("critique").name + " asks for a revision: " + s["critique"].value("reasons", "") + "\nRevise your work.\n";
  }
  std::string tools;
  for (auto& t : rt.img.list(image::Kind::Tool)) tools += (tools.empty() ? "" : ", ") + t.name;
  user += "\nRegistered tools: " + (tools.empty() ? std::string("none yet") : tools) + ".";
  json t = rt.turn(brick, s, "act", user, "", true);
  std::string text = t["content"];
  json draft = {{"text", text}};
  json out = json::object();
  out["proposal"] = nullptr;
  std::string code = code_block(text);
  if (!code.empty()) {
    draft["code"] = code;
    json r = rt.run_code(code);
    draft["result"] = r;
    t["result"] = r;
    // doesNotUnderstand: a call to a function nobody wrote becomes a forge request.
    if (!r.value("ok", false) && r.value("error_type", "") == "NameError" && brick.can("forge") && rt.sandbox()) {
      sandbox::Result failure{.ok = false, .error_type = "NameError", .error = r.value("error", "")};
      forge::ToolSpec spec = forge::spec_from_name_error(*rt.sandbox(), code, failure);
      if (!spec.name.empty()) {
        spec.tests = "assert callable(" + spec.name + ")";
        auto f = forge::forge(spec, rt.backend(brick, s), *rt.sandbox(), rt.img);
        json forged = {{"name", spec.name}, {"ok", f.ok}, {"attempts", f.attempts.size()}};
        if (f.ok) forged["proposal"] = f.proposal;
        out["forged"] = json::array({forged});
        t["forged"] = forged;
        if (f.ok) out["proposal"] = f.proposal;
      }
    }
  }
  out["draft"] = draft;
  out["transcript"] = json::array({t});
  return out;
}

// A forged tool waits for a human: the run stops here until approve/reject.
json approve_node(Runtime& rt, const json& s, NodeContext& ctx) {
  auto d = governance::await_decision(ctx, rt.img, s["proposal"].get<int64_t>());
  bool yes = d == governance::Decision::Approved;
  json t = {{"persona", rt.who("route").name}, {"kind", "approval"}, {"task", task_no(s)},
            {"content", std::string("the human ") + (yes ? "approved" : "rejected") + " proposal " + std::to_string(s["proposal"].get<int64_t>())}};
  return json{{"decision", yes ? "approved" : "rejected"}, {"transcript", json::array({t})}};
}

json register_node(Runtime& rt, const json& s) {
  governance::apply(rt.img, s["proposal"].get<int64_t>());
  if (rt.kernel) forge::load_tools(*rt.kernel, rt.img);
  return json{{"proposal", nullptr}};
}

// The original code again, now that the tool it called exists.
json rerun_node(Runtime& rt, const json& s) {
  json draft = s["draft"];
  json r = rt.run_code(draft.value("code", ""));
  draft["result"] = r;
  json t = {{"persona", rt.who("act").name}, {"kind", "rerun"}, {"task", task_no(s)},
            {"content", "ran my code again with the new tool"}, {"result", r}};
  return json{{"draft", draft}, {"transcript", json::array({t})}};
}

// ROBIN reviews BRICK's work: accept, or revise with reasons.
json robin_node(Runtime& rt, const json& s) {
  Spec robin = rt.who("critique");
  std::string user = "Task: " + s["task"].get<std::string>() + "\n\n";
  if (s["draft"].is_object()) {
    user += rt.who("act").name + "'s work:\n" + clip(s["draft"].value("text", ""), 2000) + "\n";
    if (s["draft"].contains("result")) user += "When run, " + result_text(s["draft"]["result"]) + "\n";
  } else {
    user += "There is no work from " + rt.who("act").name + " yet.\n";
  }
  user += "\nRevision round " + std::to_string(s.value("rounds", 0)) + " of at most " + std::to_string(rt.opts.max_rounds) +
          ". Reply with JSON: {\"verdict\": \"accept\" or \"revise\", \"reasons\": \"...\"}.";
  json t = rt.turn(robin, s, "critique", user, kCritiqueSchema);
  json c = json::parse(t["content"].get<std::string>(), nullptr, false);
  bool ok = c.is_object() && (c.value("verdict", "") == "accept" || c.value("verdict", "") == "revise");
  json critique = ok ? json{{"verdict", c["verdict"]}, {"reasons", c.value("reasons", "")}, {"parsed", true}}
                     : json{{"verdict", "accept"}, {"reasons", "(my reply did not parse)"}, {"parsed", false}};
  int rounds = s.value("rounds", 0);
  bool revise = critique["verdict"] == "revise" && s["draft"].is_object() && rounds < rt.opts.max_rounds;
  t["critique"] = critique;
  critique["back_to_brick"] = revise;
  return json{{"critique", critique}, {"rounds", revise ? rounds + 1 : rounds}, {"transcript", json::array({t})}};
}

// BABS searches the image's memory and reports what it supports.
json babs_node(Runtime& rt, const json& s) {
  Spec babs = rt.who("retrieve");
  std::string query = s["task"].get<std::string>();
  if (s["route"].is_object()) query += " " + s["route"].value("brief", "");
  // The same embedder `a4ps memory add` uses for this model, so the vectors compare.
  std::vector<memory::Hit> hits;
  try {
    hits = memory::search(rt.img, query, memory::model_embedder(rt.model_of(babs, s), rt.manager()), 5);
  } catch (const Error&) {  // no embeddings from this model (or none at all)
    hits = memory::search(rt.img, query, memory::Embedder{}, 5);  // full-text search only
  }
  json hj = json::array();
  std::string passages;
  for (auto& h : hits) {
    hj.push_back({{"id", h.id}, {"source", h.source}, {"score", h.score}, {"text", clip(h.text, 600)}});
    passages += "[" + h.source + "] " + clip(h.text, 600) + "\n";
  }
  std::string user = "Question: " + query + "\n\nPassages from memory:\n" +
                     (passages.empty() ? std::string("(none found)\n") : passages) +
                     "\nReport what these passages say about the question, citing sources in brackets.";
  json t = rt.turn(babs, s, "retrieve", user, "", true);
  t["hits"] = hj;
  return json{{"notes", {{"text", t["content"]}, {"hits", hj}}}, {"transcript", json::array({t})}};
}

// A persona a user added: it answers ALFRED's brief in its own voice.
json respond_node(Runtime& rt, const json& s) {
  Spec p = rt.spec(s["route"].value("next", ""));
  std::string user = "Task: " + s["task"].get<std::string>() + "\nALFRED asks: " + s["route"].value("brief", "") +
                     "\n\nWhat has happened so far:\n" + Runtime::story(s);
  return json{{"transcript", json::array({rt.turn(p, s, "respond", user, "", true)})}};
}

// ALFRED closes: the answer, from what the others did.
json answer_node(Runtime& rt, const json& s) {
  Spec alfred = rt.who("answer");
  std::string user = rt.conversation(s) + "Task: " + s["task"].get<std::string>() + "\n\nWhat the others did:\n" +
                     Runtime::story(s);
  if (s["notes"].is_object())
    for (auto& h : s["notes"].value("hits", json::array()))
      user += "Memory [" + h.value("source", std::string()) + "]: " + h.value("text", std::string()) + "\n";
  if (s["draft"].is_object() && s["draft"].contains("result")) user += rt.who("act").name + "'s final result: " + result_text(s["draft"]["result"]) + "\n";
  user += "\nWrite the answer for the user now.";
  json t = rt.turn(alfred, s, "answer", user, "", true);
  std::string answer = t["content"];
  return json{{"answer", answer}, {"transcript", json::array({t})},
              {"history", json::array({{{"task", s["task"]}, {"answer", answer}}})}};
}

}  // namespace

json task_input(const std::string& task, const std::string& model) {
  json in = {{"task", task}, {"turns", 0}, {"rounds", 0}, {"route", nullptr}, {"draft", nullptr},
             {"critique", nullptr}, {"notes", nullptr}, {"proposal", nullptr}, {"decision", nullptr},
             {"answer", nullptr}};
  if (!model.empty()) in["model"] = model;
  return in;
}

graph::StateGraph agent_graph(image::Image& img, AgentOptions opts) {
  auto rt = std::make_shared<Runtime>(img, std::move(opts));
  graph::StateGraph g;
  for (const char* k : {"task", "model", "route", "turns", "rounds", "draft", "critique", "notes", "proposal",
                        "decision", "answer"})
    g.channel(k);
  g.channel("transcript", graph::append(), json::array());
  g.channel("history", graph::append(), json::array());
  g.channel("forged", graph::append(), json::array());

  g.node("route", [rt](const json& s, NodeContext&) { return route_node(*rt, s); });
  g.node("brick", [rt](const json& s, NodeContext&) { return brick_node(*rt, s); });
  g.node("approve", [rt](const json& s, NodeContext& ctx) { return approve_node(*rt, s, ctx); });
  g.node("register", [rt](const json& s, NodeContext&) { return register_node(*rt, s); });
  g.node("rerun", [rt](const json& s, NodeContext&) { return rerun_node(*rt, s); });
  g.node("robin", [rt](const json& s, NodeContext&) { return robin_node(*rt, s); });
  g.node("babs", [rt](const json& s, NodeContext&) { return babs_node(*rt, s); });
  g.node("respond", [rt](const json& s, NodeContext&) { return respond_node(*rt, s); });
  g.node("answer", [rt](const json& s, NodeContext&) { return answer_node(*rt, s); });

  g.edge(graph::START, "route");
  // To the node for what the chosen persona does (the nodes keep the default personas'
  // names: checkpoints record them, so threads in older images still resume).
  g.conditional("route", [rt](const json& s) {
    std::string next = s["route"].value("next", "ANSWER");
    if (next == "ANSWER") return std::vector<std::string>{"answer"};
    for (const char* action : {"act", "critique", "retrieve"})
      if (rt->who(action).name == next) return std::vector<std::string>{action == std::string("act") ? "brick" : action == std::string("critique") ? "robin" : "babs"};
    return std::vector<std::string>{"respond"};
  });
  g.conditional("brick", [](const json& s) {
    return std::vector<std::string>{s["proposal"].is_number() ? "approve" : "robin"};
  });
  g.conditional("approve", [](const json& s) {
    return std::vector<std::string>{s["decision"] == "approved" ? "register" : "robin"};
  });
  g.edge("register", "rerun").edge("rerun", "robin");
  g.conditional("robin", [](const json& s) {
    return std::vector<std::string>{s["critique"].value("back_to_brick", false) ? "brick" : "route"};
  });
  g.edge("babs", "route").edge("respond", "route").edge("answer", graph::END);
  return g;
}

std::string choose_model(const image::Image& img, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("A4PS_MODEL"); e && *e) return e;
  if (auto s = img.setting("model"); !s.empty()) return s;
  return img.meta("base_model_path");
}

}  // namespace a4ps::persona
