#include "persona/agent.h"

#include <chrono>
#include <map>
#include <memory>

#include "codex/codex.h"
#include "forge/forge.h"
#include "governance/governance.h"
#include "llm/llm.h"
#include "llm/model_manager.h"
#include "memory/memory.h"
#include "persona/persona.h"
#include "persona/state.h"
#include "persona/turn.h"
#include "sandbox/sandbox.h"
#include "util/env.h"

namespace a4ps::persona {
namespace {

using graph::json;
using graph::NodeContext;
namespace fs = std::filesystem;

// Prompts and transcripts are JSON: cut text at a character boundary.
std::string clip(std::string_view s, size_t n) { return utf8_clip(s, n); }

// The first fenced code block of a model's answer, or "" when it wrote none.
std::string code_block(const std::string& text) {
  if (text.find("```") == std::string::npos) return "";
  std::string code = forge::extract_code(text);
  return code.find_first_not_of(" \t\r\n") == std::string::npos ? "" : code;
}

std::string result_text(const std::optional<CodeResult>& r) {
  if (!r) return "";
  if (r->ok) {
    std::string out = r->stdout_text;
    if (!r->value.empty() && r->value != "None") out += (out.empty() ? "" : "\n") + std::string("value: ") + r->value;
    return "it ran" + (out.empty() ? std::string(" and printed nothing") : ":\n" + clip(out, 1500));
  }
  return "it failed: " + r->error_type + ": " + clip(r->error, 800);
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
  std::unique_ptr<sandbox::Kernel> own_kernel;
  bool kernel_ready = false;  // the kernel has this runtime's image tools and reflection
  std::string kernel_error;

  std::unique_ptr<sandbox::Kernel>& kernel() { return opts.kept_kernel ? *opts.kept_kernel : own_kernel; }

  // What an Imagefile gave the image (initialised from img, which is declared before them):
  std::string preamble = img.setting("system");       // SYSTEM: every persona's prompt starts with it
  std::string parameters = img.setting("parameters");  // PARAMETERs: sampling defaults, JSON
  std::vector<Exchange> seed = seed_conversation(img, preamble);  // MESSAGEs

  // The image's seed conversation: each user message and the assistant reply after it are
  // an earlier exchange; system messages join the preamble.
  static std::vector<Exchange> seed_conversation(const image::Image& img, std::string& preamble) {
    std::vector<Exchange> out;
    json msgs = json::parse(img.setting("messages").empty() ? "[]" : img.setting("messages"), nullptr, false);
    if (!msgs.is_array()) return out;
    for (auto& m : msgs) {
      std::string role = m.value("role", ""), content = m.value("content", "");
      if (role == "system") preamble += (preamble.empty() ? "" : "\n\n") + content;
      else if (role == "user") out.push_back({content, ""});
      else if (role == "assistant" && !out.empty() && out.back().answer.empty()) out.back().answer = content;
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

  std::string model_of(const Spec& p, const AgentState& state) const {
    if (!p.model.empty()) return p.model;
    if (!opts.model.empty()) return opts.model;
    const std::string& m = state.model;
    if (m.empty()) throw Error("no model for " + p.name + "; pass --model or set A4PS_MODEL");
    return m;
  }

  llm::ModelManager& manager() {
    if (opts.manager) return *opts.manager;
    if (!mm) mm = std::make_unique<llm::ModelManager>(llm::ManagerOptions{.n_ctx = opts.n_ctx, .n_threads = opts.n_threads, .env = img.env()});
    return *mm;
  }

  // The persona's backend; rebuilt when its adapter changed (an approved adapter is
  // hot-swapped into a running conversation at its next turn).
  Bound& bound(const Spec& p, const AgentState& state) {
    std::string m = model_of(p, state), adapter;
    llm::Persona lp{p.name, {}, {}};
    if (llm::is_local_spec(m)) {
      lp.model = m;
      auto o = opts.adapters.find(p.name);
      lp.adapters = persona_adapters(img, p, m, adapter, o == opts.adapters.end() ? nullptr : &o->second);
    }
    std::string key = m;
    for (auto& a : lp.adapters) key += "|" + a.path.string();
    auto& b = backends[p.name];
    if (!b.backend || b.key != key) b = {llm::open_backend(m, manager(), lp), key, adapter};
    return b;
  }
  llm::Backend& backend(const Spec& p, const AgentState& state) { return *bound(p, state).backend; }

  // One turn of a persona: its system prompt, the user message, and its answer.
  Turn turn(const Spec& p, const AgentState& state, const std::string& kind, const std::string& user,
            const std::string& schema = "", bool stream = false) {
    llm::ChatRequest req;
    req.messages = {{"system", preamble.empty() ? system_prompt(p, codex) : preamble + "\n\n" + system_prompt(p, codex)}, {"user", user}};
    req.sampling = sampling_for(p, parameters);
    req.max_tokens = opts.max_tokens > 0 ? std::min(opts.max_tokens, p.max_tokens) : p.max_tokens;
    req.json_schema = schema;
    if (!schema.empty()) req.max_tokens = std::max(req.max_tokens, 512);  // the schema bounds the JSON well below this
    const bool answer = kind == "answer" && opts.on_answer_token;
    if (stream && (opts.on_token || answer))
      req.on_token = [&](std::string_view piece) {
        if (opts.on_token) opts.on_token(p.name, piece);
        if (answer) opts.on_answer_token(piece);
        return true;
      };
    Bound& b = bound(p, state);
    auto r = b.backend->chat(req);
    Turn t{.persona = p.name, .kind = kind, .content = utf8_clean(r.text), .task = state.task_no()};
    t.prompt.emplace();
    for (auto& m : req.messages) t.prompt->push_back({m.role, m.content});
    t.tokens = r.completion_tokens;
    t.prompt_tokens = r.prompt_tokens;
    t.adapter = b.adapter;
    return t;
  }

  sandbox::Kernel* sandbox() {
    auto& k = kernel();
    if (k && !kernel_ready) {
      // Kept from an earlier runtime: its Python state stays, but tools approved since and
      // the reflection must be this runtime's image handle's.
      try {
        forge::load_tools(*k, img);
        forge::serve_reflection(*k, img);
      } catch (const Error&) {
        k.reset();  // a kernel that cannot take them is started afresh below
      }
    }
    kernel_ready = true;
    if (k) return k.get();
    if (!kernel_error.empty()) return nullptr;
    try {
      k = forge::image_kernel(img, opts.sandbox, {}, opts.kernel);
    } catch (const Error& e) {
      kernel_error = e.what();
      return nullptr;
    }
    return k.get();
  }

  CodeResult run_code(const std::string& code) {
    auto* k = sandbox();
    if (!k) return {.ok = false, .error_type = "SandboxUnavailable", .error = kernel_error + " (see `a4ps doctor`)"};
    auto t0 = std::chrono::steady_clock::now();
    auto r = k->run(code);
    if (opts.on_code_run) opts.on_code_run(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), r.ok);
    return {r.ok, r.stdout_text, r.value, r.error_type, r.error};
  }

  // What has happened in this task, for ALFRED's eyes: one line per turn.
  static std::string story(const AgentState& state) {
    std::string out;
    int task = state.task_no();
    std::vector<const Turn*> turns;
    for (auto& e : state.transcript)
      if (e.task == task) turns.push_back(&e);
    // The newest turns only: prompts must fit a small model's context.
    constexpr size_t kShown = 10;
    if (turns.size() > kShown) {
      out += "- (" + std::to_string(turns.size() - kShown) + " earlier turns left out)\n";
      turns.erase(turns.begin(), turns.end() - kShown);
    }
    for (auto* e : turns) {
      out += turn_line(*e, 400);
      if (e->result) out += "  result: " + clip(result_text(e->result), 400) + "\n";
    }
    return out.empty() ? "- nothing yet\n" : out;
  }

  // The seed conversation, then the newest exchanges of this one.
  std::string conversation(const AgentState& state) const {
    std::string out;
    auto& h = state.history;
    size_t from = h.size() > 3 ? h.size() - 3 : 0;
    for (auto& e : seed)
      out += "Earlier, the user asked: " + clip(e.task, 300) + "\nYou answered: " + clip(e.answer, 500) + "\n";
    for (size_t i = from; i < h.size(); ++i)
      out += "Earlier, the user asked: " + clip(h[i].task, 300) + "\nYou answered: " + clip(h[i].answer, 500) + "\n";
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

// The nodes of the agent graph, one function each: each reads the typed state and
// returns its Update.

// ALFRED decides who works next, as JSON a grammar forces into shape.
Update route_node(Runtime& rt, const AgentState& s) {
  if (s.task.empty()) throw Error("the agent needs a task: input {\"task\": \"...\"}");
  Spec alfred = rt.who("route");
  int turns = s.turns + 1;
  std::vector<std::string> choices;
  std::string who;
  for (auto& p : load_all(rt.img)) {
    if (p.can("route") || !(p.can("act") || p.can("critique") || p.can("retrieve") || p.can("respond"))) continue;
    choices.push_back(p.name);
    who += "- " + p.name + ": " + p.role + "\n";
  }
  choices.push_back(kAnswerRoute);
  if (turns > rt.opts.max_turns) return Update().route({kAnswerRoute, "the turn limit is reached", true}).turns(turns);
  std::string user = rt.conversation(s) + "Task: " + s.task + "\n\nWho can work on it:\n" + who +
                     "- " + kAnswerRoute + ": you write the final answer now\n\nWhat has happened so far:\n" + Runtime::story(s) +
                     "\nThis is routing turn " + std::to_string(turns) + " of at most " + std::to_string(rt.opts.max_turns) +
                     ". Reply with JSON: {\"next\": one of the names above, \"brief\": one sentence for them}.";
  Turn t = rt.turn(alfred, s, "route", user, route_schema(choices));
  json r = json::parse(t.content, nullptr, false);
  bool ok = r.is_object() && r.contains("next") && r["next"].is_string() &&
            std::find(choices.begin(), choices.end(), r["next"].get<std::string>()) != choices.end();
  Route route = ok ? Route{r["next"].get<std::string>(), r.value("brief", ""), true}
                   : Route{kAnswerRoute, "my routing reply did not parse; answering", false};
  t.route = route;
  return Update().route(route).turns(turns).turn(t);
}

// BRICK works: writes code and runs it, or reasons in steps.
Update brick_node(Runtime& rt, const AgentState& s) {
  Spec brick = rt.who("act");
  std::string user = rt.conversation(s) + "Task: " + s.task + "\n";
  bool revising = s.critique && s.critique->back_to_brick;
  if (!revising && s.route) user += rt.who("route").name + " asks: " + s.route->brief + "\n";
  if (s.notes) user += "\n" + rt.who("retrieve").name + " found:\n" + clip(s.notes->text, 1500) + "\n";
  if (revising && s.draft) {
    user += "\nYour previous attempt:\n" + clip(s.draft->text, 1500) + "\n";
    if (s.draft->result) user += "Result: " + result_text(s.draft->result) + "\n";
    user += rt.who("critique").name + " asks for a revision: " + s.critique->reasons + "\nRevise your work.\n";
  }
  std::string tools;
  for (auto& t : rt.img.list(image::Kind::Tool)) tools += (tools.empty() ? "" : ", ") + t.name;
  user += "\nRegistered tools: " + (tools.empty() ? std::string("none yet") : tools) + ".";
  Turn t = rt.turn(brick, s, "act", user, "", true);
  Draft draft{.text = t.content};
  Update out;
  out.proposal(std::nullopt);
  std::string code = code_block(t.content);
  if (!code.empty()) {
    draft.code = code;
    CodeResult r = rt.run_code(code);
    draft.result = r;
    t.result = r;
    // doesNotUnderstand: a call to a function nobody wrote becomes a forge request.
    // (Not in a trial of adapters: it files no proposal.)
    if (!r.ok && r.error_type == "NameError" && brick.can("forge") && rt.sandbox() && rt.opts.adapters.empty()) {
      sandbox::Result failure{.ok = false, .error_type = "NameError", .error = r.error};
      forge::ToolSpec spec = forge::spec_from_name_error(*rt.sandbox(), code, failure);
      if (!spec.name.empty()) {
        spec.tests = "assert callable(" + spec.name + ")";
        auto f = forge::forge(spec, rt.backend(brick, s), *rt.sandbox(), rt.img);
        Forged forged{spec.name, f.ok, static_cast<int>(f.attempts.size()), std::nullopt};
        if (f.ok) forged.proposal = f.proposal;
        out.forged(forged);
        t.forged = forged;
        if (f.ok) out.proposal(f.proposal);
      }
    }
  }
  return out.draft(draft).turn(t);
}

// A forged tool waits for a human: the run stops here until approve/reject.
Update approve_node(Runtime& rt, const AgentState& s, NodeContext& ctx) {
  int64_t id = s.proposal.value_or(0);
  bool yes = governance::await_decision(ctx, rt.img, id) == governance::Decision::Approved;
  Turn t{.persona = rt.who("route").name, .kind = "approval",
         .content = std::string("the human ") + (yes ? "approved" : "rejected") + " proposal " + std::to_string(id),
         .task = s.task_no()};
  return Update().decision(yes ? Decision::Approved : Decision::Rejected).turn(t);
}

Update register_node(Runtime& rt, const AgentState& s) {
  governance::apply(rt.img, s.proposal.value_or(0));
  if (auto& k = rt.kernel()) forge::load_tools(*k, rt.img);
  return Update().proposal(std::nullopt);
}

// The original code again, now that the tool it called exists.
Update rerun_node(Runtime& rt, const AgentState& s) {
  Draft draft = s.draft.value_or(Draft{});
  draft.result = rt.run_code(draft.code);
  Turn t{.persona = rt.who("act").name, .kind = "rerun", .content = "ran my code again with the new tool",
         .task = s.task_no(), .result = draft.result};
  return Update().draft(draft).turn(t);
}

// ROBIN reviews BRICK's work: accept, or revise with reasons.
Update robin_node(Runtime& rt, const AgentState& s) {
  Spec robin = rt.who("critique");
  std::string user = "Task: " + s.task + "\n\n";
  if (s.draft) {
    user += rt.who("act").name + "'s work:\n" + clip(s.draft->text, 2000) + "\n";
    if (s.draft->result) user += "When run, " + result_text(s.draft->result) + "\n";
  } else {
    user += "There is no work from " + rt.who("act").name + " yet.\n";
  }
  user += "\nRevision round " + std::to_string(s.rounds) + " of at most " + std::to_string(rt.opts.max_rounds) +
          ". Reply with JSON: {\"verdict\": \"accept\" or \"revise\", \"reasons\": \"...\"}.";
  Turn t = rt.turn(robin, s, "critique", user, kCritiqueSchema);
  json c = json::parse(t.content, nullptr, false);
  std::optional<Verdict> v = c.is_object() && c["verdict"].is_string() ? parse_verdict(c["verdict"].get<std::string>()) : std::nullopt;
  Critique critique = v ? Critique{*v, c.value("reasons", ""), true} : Critique{Verdict::Accept, "(my reply did not parse)", false};
  bool revise = critique.verdict == Verdict::Revise && s.draft && s.rounds < rt.opts.max_rounds;
  t.critique = critique;
  critique.back_to_brick = revise;
  return Update().critique(critique).rounds(revise ? s.rounds + 1 : s.rounds).turn(t);
}

// BABS searches the image's memory and reports what it supports.
Update babs_node(Runtime& rt, const AgentState& s) {
  Spec babs = rt.who("retrieve");
  std::string query = s.task;
  if (s.route) query += " " + s.route->brief;
  // The same embedder `a4ps memory add` uses for this model, so the vectors compare.
  std::vector<memory::Hit> found;
  try {
    found = memory::search(rt.img, query, memory::model_embedder(rt.model_of(babs, s), rt.manager()), 5);
  } catch (const Error&) {  // no embeddings from this model (or none at all)
    found = memory::search(rt.img, query, memory::Embedder{}, 5);  // full-text search only
  }
  std::vector<Hit> hits;
  std::string passages;
  for (auto& h : found) {
    hits.push_back({h.id, h.source, h.score, clip(h.text, 600)});
    passages += "[" + h.source + "] " + clip(h.text, 600) + "\n";
  }
  std::string user = "Question: " + query + "\n\nPassages from memory:\n" +
                     (passages.empty() ? std::string("(none found)\n") : passages) +
                     "\nReport what these passages say about the question, citing sources in brackets.";
  Turn t = rt.turn(babs, s, "retrieve", user, "", true);
  memory::note_use(rt.img, found);  // these passages reached a prompt: they count as used
  t.hits = hits;
  return Update().notes({t.content, hits}).turn(t);
}

// A persona a user added: it answers the router's brief in its own voice.
Update respond_node(Runtime& rt, const AgentState& s) {
  Route route = s.route.value_or(Route{});
  Spec p = rt.spec(route.next);
  std::string user = "Task: " + s.task + "\n" + rt.who("route").name + " asks: " + route.brief +
                     "\n\nWhat has happened so far:\n" + Runtime::story(s);
  return Update().turn(rt.turn(p, s, "respond", user, "", true));
}

// ALFRED closes: the answer, from what the others did.
Update answer_node(Runtime& rt, const AgentState& s) {
  Spec alfred = rt.who("answer");
  std::string user = rt.conversation(s) + "Task: " + s.task + "\n\nWhat the others did:\n" + Runtime::story(s);
  if (s.notes)
    for (auto& h : s.notes->hits) user += "Memory [" + h.source + "]: " + h.text + "\n";
  if (s.draft && s.draft->result) user += rt.who("act").name + "'s final result: " + result_text(s.draft->result) + "\n";
  user += "\nWrite the answer for the user now.";
  Turn t = rt.turn(alfred, s, "answer", user, "", true);
  return Update().answer(t.content).turn(t).exchange({s.task, t.content});
}

// The node that does what a routed persona can do. The nodes keep the default personas'
// names: checkpoints record them, so threads in older images still resume.
constexpr std::pair<const char*, const char*> kActionNodes[] = {{"act", "brick"}, {"critique", "robin"}, {"retrieve", "babs"}};

// A node function over the typed state.
template <class F>
graph::NodeFn node(std::shared_ptr<Runtime> rt, F f) {
  return [rt, f](const json& s, NodeContext& ctx) -> json {
    if constexpr (std::is_invocable_v<F, Runtime&, const AgentState&, NodeContext&>) return f(*rt, state_from_json(s), ctx).as_json();
    else return f(*rt, state_from_json(s)).as_json();
  };
}

}  // namespace

json task_input(const std::string& task, const std::string& model) { return new_task(task, model); }

graph::StateGraph agent_graph(image::Image& img, AgentOptions opts) {
  auto rt = std::make_shared<Runtime>(img, std::move(opts));
  graph::StateGraph g;
  for (auto& k : replaced_channels()) g.channel(k);
  for (auto& k : appended_channels()) g.channel(k, graph::append(), json::array());

  g.node("route", node(rt, route_node));
  g.node("brick", node(rt, brick_node));
  g.node("approve", node(rt, approve_node));
  g.node("register", node(rt, register_node));
  g.node("rerun", node(rt, rerun_node));
  g.node("robin", node(rt, robin_node));
  g.node("babs", node(rt, babs_node));
  g.node("respond", node(rt, respond_node));
  g.node("answer", node(rt, answer_node));

  g.edge(graph::START, "route");
  // To the node for what the chosen persona does; any other persona responds.
  g.conditional("route", [rt](const json& s) {
    auto st = state_from_json(s);
    std::string next = st.route ? st.route->next : kAnswerRoute;
    if (next == kAnswerRoute) return std::vector<std::string>{"answer"};
    for (auto& [action, node] : kActionNodes)
      if (rt->who(action).name == next) return std::vector<std::string>{node};
    return std::vector<std::string>{"respond"};
  });
  g.conditional("brick", [](const json& s) {
    return std::vector<std::string>{state_from_json(s).proposal ? "approve" : "robin"};
  });
  g.conditional("approve", [](const json& s) {
    return std::vector<std::string>{state_from_json(s).decision == Decision::Approved ? "register" : "robin"};
  });
  g.edge("register", "rerun").edge("rerun", "robin");
  g.conditional("robin", [](const json& s) {
    auto st = state_from_json(s);
    return std::vector<std::string>{st.critique && st.critique->back_to_brick ? "brick" : "route"};
  });
  g.edge("babs", "route").edge("respond", "route").edge("answer", graph::END);
  return g;
}

bool is_base_model(const image::Image& img, const std::string& model) {
  // Every turn asks: read the meta key, not info() (which counts the whole image).
  const std::string base_path = img.meta("base_model_path");
  std::error_code ec;  // the same file, however the model was named (relative, absolute)
  return !base_path.empty() && (fs::path(model) == fs::path(base_path) || fs::equivalent(model, base_path, ec));
}

std::vector<llm::Adapter> persona_adapters(const image::Image& img, const Spec& p, const std::string& model, std::string& name,
                                           const AdapterOverride* override) {
  const bool base = is_base_model(img, model);
  auto file_of_blob = [&](const std::string& sha) { return llm::adapter_file(sha, [&] { return img.blob(sha); }); };
  auto file_of = [&](const image::Object& a) { return file_of_blob(a.blob_sha256); };
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
  if (override) {  // a trial: these bytes (or none) instead of the persona's own
    if (override->sha256.empty()) return out;
    name += (name.empty() ? "" : " + ") + override->label;
    out.push_back({file_of_blob(override->sha256), 1.0f});
    return out;
  }
  auto a = adapter_for(img, p, base ? img.meta("base_model_sha256") : "");
  if (!a) return out;
  name += (name.empty() ? "" : " + ") + a->name + " v" + std::to_string(a->version);
  out.push_back({file_of(*a), 1.0f});
  return out;
}

std::string choose_model(const image::Image& img, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (auto e = img.env()->getenv("A4PS_MODEL"); e && !e->empty()) return *e;  // the image's Env: tests set their own
  if (auto s = img.setting("model"); !s.empty()) return s;
  return img.meta("base_model_path");
}

}  // namespace a4ps::persona
