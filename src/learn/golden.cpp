// The judge (ALFRED as oracle, constrained JSON) and the golden set (per-persona
// examples from well-judged threads), plus the JSONL chat format they travel in.
#include <algorithm>
#include <cmath>
#include <set>

#include "graph/checkpoint.h"
#include "image/image.h"
#include "learn/learn.h"
#include "learn/store.h"
#include "persona/turn.h"
#include "util/util.h"

namespace a4ps::learn {

namespace {

const char* kCriteria[] = {"task_success", "correctness", "grace", "justice", "codex_adherence"};

json messages_json(const std::vector<llm::Message>& m) {
  json a = json::array();
  for (auto& x : m) a.push_back({{"role", x.role}, {"content", x.content}});
  return a;
}

std::vector<llm::Message> messages_of(const json& a, const std::string& where) {
  if (!a.is_array() || a.empty()) throw Error(where + ": \"messages\" must be a non-empty array");
  std::vector<llm::Message> out;
  for (auto& m : a) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") || !m["content"].is_string())
      throw Error(where + ": each message needs a string \"role\" and \"content\"");
    std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant")
      throw Error(where + ": role '" + role + "' is not system, user or assistant");
    out.push_back({role, m["content"]});
  }
  return out;
}

}  // namespace

std::vector<Example> parse_jsonl(const std::string& text, const std::string& what) {
  std::vector<Example> out;
  size_t line = 0;
  for (size_t a = 0; a < text.size();) {
    size_t e = text.find('\n', a);
    if (e == std::string::npos) e = text.size();
    std::string s = text.substr(a, e - a);
    a = e + 1;
    ++line;
    if (s.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = what + " line " + std::to_string(line);
    json j;
    try {
      j = json::parse(s);
    } catch (const std::exception&) {
      throw Error(where + " is not JSON; expected {\"messages\":[{\"role\":...,\"content\":...}]}");
    }
    if (!j.is_object() || !j.contains("messages")) throw Error(where + " has no \"messages\"; expected the chat format");
    Example ex{messages_of(j["messages"], where), j.value("tokenizer", "")};
    out.push_back(std::move(ex));
  }
  return out;
}

std::string to_jsonl(const std::vector<Example>& data) {
  std::string out;
  for (auto& ex : data) {
    json j = {{"messages", messages_json(ex.messages)}};
    if (!ex.tokenizer.empty()) j["tokenizer"] = ex.tokenizer;
    out += j.dump() + "\n";
  }
  return out;
}

std::string dataset_hash(const std::vector<Example>& data) { return sha256_hex(to_jsonl(data)); }

// ---- judge -------------------------------------------------------------------------
const std::string& judge_schema() {
  static const std::string s = [] {
    json props = json::object();
    json req = json::array();
    for (auto* c : kCriteria) {
      props[c] = {{"type", "integer"}, {"minimum", 1}, {"maximum", 5}};
      req.push_back(c);
    }
    props["rationale"] = {{"type", "string"}, {"maxLength", 200}};
    req.push_back("rationale");
    return json{{"type", "object"}, {"properties", props}, {"required", req}, {"additionalProperties", false}}.dump();
  }();
  return s;
}

Judgement judge_thread(image::Image& img, llm::Backend& judge, const std::string& thread) {
  auto cp = graph::image_checkpointer(img)->get(thread);
  if (!cp) throw Error("thread '" + thread + "' has no checkpoint to judge; list threads with a4ps thread ls");
  const json& st = cp->state;
  std::string transcript;
  if (st.contains("transcript") && st["transcript"].is_array())
    for (auto& e : st["transcript"]) {
      if (e.is_object()) transcript += persona::turn_line(e, 600);  // (a byte cut here once split characters)
    }
  const std::string task = st.value("task", ""), answer = st.value("answer", "");
  if (task.empty() && transcript.empty()) throw Error("thread '" + thread + "' holds no task or transcript to judge");
  llm::ChatRequest req;
  req.messages = {
      {"system",
       "You are ALFRED, the supervisor, acting as the oracle. Score the interaction from 1 (poor) to 5 (excellent) on: "
       "task_success (was the task done), correctness (logic and facts; BRICK's value, justice), grace (care and fit for "
       "the person; ROBIN's value), justice (fair, honest, no harm), codex_adherence (kept the Living Codex). Give a short "
       "rationale. Answer with JSON only."},
      {"user", "Task:\n" + task + "\n\nTranscript:\n" + transcript + "\nFinal answer:\n" + answer}};
  req.json_schema = judge_schema();
  req.max_tokens = 512;  // the schema bounds the answer well below this
  llm::ChatResult res = judge.chat(req);
  json out;
  try {
    out = json::parse(res.text);
  } catch (const std::exception&) {
    throw Error("the judge (" + judge.name() + ") did not answer with JSON; check the judge model");
  }
  Judgement j;
  j.thread = thread;
  j.scores = json::object();
  double sum = 0;
  for (auto* c : kCriteria) {
    if (!out.is_object() || !out.contains(c) || !out[c].is_number())
      throw Error(std::string("the judge's answer lacks the score '") + c + "'; check the judge model");
    double v = out[c].get<double>();
    if (v < 1 || v > 5) throw Error(std::string("the judge scored ") + c + " " + std::to_string(v) + ", outside 1..5");
    j.scores[c] = v;
    sum += v;
  }
  j.total = sum / 5.0;
  j.rationale = out.value("rationale", "");
  j.rationale = utf8_clip(j.rationale, 1000, "");  // a backend that ignores the schema
  store::require(img);
  image::Image::Tx tx(img);
  // The events the judgement covers: the thread's own log entries up to now.
  json judged = store::thread_events(img, thread);
  j.id = store::add_judgement(img, {.thread = thread, .checkpoint = cp->id, .judge = "ALFRED/" + judge.name(),
                                    .scores = j.scores.dump(), .total = j.total, .rationale = j.rationale,
                                    .meta = json{{"checkpoint_step", cp->step}, {"events", judged}, {"state_sha256", sha256_hex(st.dump())}}.dump(),
                                    .created_at = now_utc()});
  img.append_event("learn.judged", "ALFRED", {{"id", j.id}, {"thread", thread}});
  tx.commit();
  return j;
}

// ---- golden set ----------------------------------------------------------------------
namespace {

// Inserts one example; false when the persona already has it (same content hash).
bool insert_golden(image::Image& img, const std::string& persona, int64_t judgement, const json& messages) {
  return store::add_golden(img, persona, judgement, messages.dump(), sha256_hex(messages.dump()), now_utc());
}

}  // namespace

GoldenResult select_golden(image::Image& img, const GoldenOptions& opts) {
  struct J {
    int64_t id;
    std::string thread;
    json scores;
    double total;
  };
  store::require(img);
  std::vector<J> js;
  for (auto& r : store::judgements(img)) js.push_back({r.id, r.thread, json::parse(r.scores), r.total});
  GoldenResult r;
  auto cps = graph::image_checkpointer(img);
  image::Image::Tx tx(img);
  for (auto& j : js) {
    bool ok = j.total >= opts.min_total;
    for (auto& [k, v] : j.scores.items()) ok = ok && v.is_number() && v.get<double>() >= opts.min_each;
    if (!ok) continue;
    ++r.judgements;
    auto cp = cps->get(j.thread);
    if (!cp || !cp->state.contains("transcript") || !cp->state["transcript"].is_array()) continue;
    int added = 0;
    for (auto& e : persona::transcript_from_json(cp->state["transcript"])) {
      // A model's turn (with the exact prompt it saw) that said something is an example.
      if (!e.prompt || e.prompt->empty() || e.content.empty()) continue;
      json msgs = json::array();
      for (auto& m : *e.prompt) msgs.push_back({{"role", m.role}, {"content", m.content}});
      try {
        messages_of(msgs, "thread " + j.thread);
      } catch (const Error&) {
        continue;  // a step whose prompt is not plain chat messages is not an example
      }
      msgs.push_back({{"role", "assistant"}, {"content", e.content}});
      if (insert_golden(img, e.persona.empty() ? "?" : e.persona, j.id, msgs)) ++added;
      else ++r.duplicates;
    }
    if (added) img.append_event("learn.golden", "ALFRED", {{"id", j.id}, {"thread", j.thread}, {"size", added}});
    r.added += added;
  }
  tx.commit();
  return r;
}

std::vector<Example> golden_set(const image::Image& img, const std::string& persona) {
  store::require(img);
  std::vector<Example> out;
  for (auto& m : store::golden_messages(img, persona)) out.push_back({messages_of(json::parse(m), "golden example"), ""});
  return out;
}

int import_golden(image::Image& img, const std::string& persona, const std::vector<Example>& data) {
  if (persona.empty()) throw Error("name the persona the examples are for (--persona)");
  store::require(img);
  image::Image::Tx tx(img);
  int added = 0;
  for (auto& ex : data) added += insert_golden(img, persona, 0, messages_json(ex.messages));
  if (added) img.append_event("learn.golden", "human", {{"persona", persona}, {"size", added}, {"source", "import"}});
  tx.commit();
  return added;
}

std::vector<std::pair<std::string, int64_t>> golden_counts(const image::Image& img) {
  store::require(img);
  return store::golden_counts(img);
}

std::vector<std::string> unjudged_threads(image::Image& img) {
  store::require(img);
  std::set<std::string> judged = store::judged_threads(img);
  std::vector<std::string> out;
  for (auto& t : graph::image_checkpointer(img)->threads())
    // The live loop's trials of an adapter not yet approved (live_loop.cpp) are evidence
    // for a person, not conversations to learn from: never judged into a golden set.
    if (t.is(graph::ThreadStatus::Done) && !judged.count(t.id) && !is_trial_thread(t.id))
      out.push_back(t.id);
  return out;
}

}  // namespace a4ps::learn
