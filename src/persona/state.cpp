// The agent state's JSON: the only place its keys are spelled. They are the on-disk
// contract of every agent thread (checkpoints and their writes), so they never change.
#include "persona/state.h"

namespace a4ps::persona {

using json = nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool flag(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}
template <class T>
T num(const json& j, const char* key, T dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<T>() : dflt;
}
const json* obj(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? &*it : nullptr;
}
const json* arr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? &*it : nullptr;
}

Route route_from(const json& j) { return {str(j, "next"), str(j, "brief"), flag(j, "parsed", true)}; }
json to_json(const Route& r) { return {{"next", r.next}, {"brief", r.brief}, {"parsed", r.parsed}}; }

Critique critique_from(const json& j) {
  return {parse_verdict(str(j, "verdict")).value_or(Verdict::Accept), str(j, "reasons"), flag(j, "parsed", true),
          flag(j, "back_to_brick", false)};
}
// The turn keeps the review; the state also whether it sends the work back.
json to_json(const Critique& c, bool with_back) {
  json j = {{"verdict", verdict_name(c.verdict)}, {"reasons", c.reasons}, {"parsed", c.parsed}};
  if (with_back) j["back_to_brick"] = c.back_to_brick;
  return j;
}

CodeResult result_from(const json& j) {
  return {flag(j, "ok", false), str(j, "stdout"), str(j, "value"), str(j, "error_type"), str(j, "error")};
}

Draft draft_from(const json& j) {
  Draft d{str(j, "text"), str(j, "code"), std::nullopt};
  if (auto* r = obj(j, "result")) d.result = result_from(*r);
  return d;
}
json to_json(const Draft& d) {
  json j = {{"text", d.text}};
  if (!d.code.empty()) j["code"] = d.code;
  if (d.result) j["result"] = to_json(*d.result);
  return j;
}

std::vector<Hit> hits_from(const json& a) {
  std::vector<Hit> out;
  for (auto& h : a)
    if (h.is_object()) out.push_back({num<int64_t>(h, "id", 0), str(h, "source"), num<double>(h, "score", 0), str(h, "text")});
  return out;
}
json to_json(const std::vector<Hit>& hits) {
  json a = json::array();
  for (auto& h : hits) a.push_back({{"id", h.id}, {"source", h.source}, {"score", h.score}, {"text", h.text}});
  return a;
}

Forged forged_from(const json& j) {
  Forged f{str(j, "name"), flag(j, "ok", false), num<int>(j, "attempts", 0), std::nullopt};
  if (auto it = j.find("proposal"); it != j.end() && it->is_number()) f.proposal = it->get<int64_t>();
  return f;
}
json to_json(const Forged& f) {
  json j = {{"name", f.name}, {"ok", f.ok}, {"attempts", f.attempts}};
  if (f.proposal) j["proposal"] = *f.proposal;
  return j;
}

}  // namespace

const char* verdict_name(Verdict v) { return v == Verdict::Revise ? "revise" : "accept"; }

std::optional<Verdict> parse_verdict(const std::string& s) {
  if (s == "accept") return Verdict::Accept;
  if (s == "revise") return Verdict::Revise;
  return std::nullopt;
}

const char* decision_name(Decision d) { return d == Decision::Approved ? "approved" : "rejected"; }

json to_json(const CodeResult& r) {
  return {{"ok", r.ok}, {"stdout", r.stdout_text}, {"value", r.value}, {"error_type", r.error_type}, {"error", r.error}};
}

Turn turn_from_json(const json& j) {
  Turn t;
  if (!j.is_object()) return t;
  t.persona = str(j, "persona");
  t.kind = str(j, "kind");
  t.content = str(j, "content");
  t.task = num<int>(j, "task", 0);
  if (auto* p = arr(j, "prompt")) {
    t.prompt.emplace();
    for (auto& m : *p)
      if (m.is_object()) t.prompt->push_back({str(m, "role"), str(m, "content")});
  }
  if (auto it = j.find("tokens"); it != j.end() && it->is_number()) t.tokens = it->get<int>();
  if (auto it = j.find("prompt_tokens"); it != j.end() && it->is_number()) t.prompt_tokens = it->get<int>();
  if (auto it = j.find("adapter"); it != j.end() && it->is_string()) t.adapter = it->get<std::string>();
  if (auto* r = obj(j, "route")) t.route = route_from(*r);
  if (auto* c = obj(j, "critique")) t.critique = critique_from(*c);
  if (auto* r = obj(j, "result")) t.result = result_from(*r);
  if (auto* f = obj(j, "forged")) t.forged = forged_from(*f);
  if (auto* h = arr(j, "hits")) t.hits = hits_from(*h);
  return t;
}

json to_json(const Turn& t) {
  json j = {{"persona", t.persona}, {"kind", t.kind}, {"content", t.content}, {"task", t.task}};
  if (t.prompt) {
    json p = json::array();
    for (auto& m : *t.prompt) p.push_back({{"role", m.role}, {"content", m.content}});
    j["prompt"] = std::move(p);
  }
  if (t.tokens) j["tokens"] = *t.tokens;
  if (t.prompt_tokens) j["prompt_tokens"] = *t.prompt_tokens;
  if (t.adapter) j["adapter"] = *t.adapter;
  if (t.route) j["route"] = to_json(*t.route);
  if (t.critique) j["critique"] = to_json(*t.critique, false);
  if (t.result) j["result"] = to_json(*t.result);
  if (t.forged) j["forged"] = to_json(*t.forged);
  if (t.hits) j["hits"] = to_json(*t.hits);
  return j;
}

std::vector<Turn> transcript_from_json(const json& transcript) {
  std::vector<Turn> out;
  if (!transcript.is_array()) return out;
  out.reserve(transcript.size());
  for (auto& t : transcript)
    if (t.is_object()) out.push_back(turn_from_json(t));
  return out;
}

AgentState state_from_json(const json& j) {
  AgentState s;
  if (!j.is_object()) return s;
  s.task = str(j, "task");
  s.model = str(j, "model");
  s.turns = num<int>(j, "turns", 0);
  s.rounds = num<int>(j, "rounds", 0);
  if (auto* r = obj(j, "route")) s.route = route_from(*r);
  if (auto* d = obj(j, "draft")) s.draft = draft_from(*d);
  if (auto* c = obj(j, "critique")) s.critique = critique_from(*c);
  if (auto* n = obj(j, "notes")) {
    s.notes = Notes{str(*n, "text"), {}};
    if (auto* h = arr(*n, "hits")) s.notes->hits = hits_from(*h);
  }
  if (auto it = j.find("proposal"); it != j.end() && it->is_number()) s.proposal = it->get<int64_t>();
  if (auto d = str(j, "decision"); !d.empty()) s.decision = d == decision_name(Decision::Approved) ? Decision::Approved : Decision::Rejected;
  if (auto it = j.find("answer"); it != j.end() && it->is_string()) s.answer = it->get<std::string>();
  if (auto* t = arr(j, "transcript")) s.transcript = transcript_from_json(*t);
  if (auto* h = arr(j, "history"))
    for (auto& e : *h)
      if (e.is_object()) s.history.push_back({str(e, "task"), str(e, "answer")});
  if (auto* f = arr(j, "forged"))
    for (auto& e : *f)
      if (e.is_object()) s.forged.push_back(forged_from(e));
  return s;
}

std::vector<std::string> replaced_channels() {
  return {"task", "model", "route", "turns", "rounds", "draft", "critique", "notes", "proposal", "decision", "answer"};
}
std::vector<std::string> appended_channels() { return {"transcript", "history", "forged"}; }

json new_task(const std::string& task, const std::string& model) {
  json in = {{"task", task}, {"turns", 0}, {"rounds", 0}, {"route", nullptr}, {"draft", nullptr},
             {"critique", nullptr}, {"notes", nullptr}, {"proposal", nullptr}, {"decision", nullptr},
             {"answer", nullptr}};
  if (!model.empty()) in["model"] = model;
  return in;
}

Update& Update::route(const Route& r) { j_["route"] = to_json(r); return *this; }
Update& Update::turns(int n) { j_["turns"] = n; return *this; }
Update& Update::rounds(int n) { j_["rounds"] = n; return *this; }
Update& Update::draft(const Draft& d) { j_["draft"] = to_json(d); return *this; }
Update& Update::critique(const Critique& c) { j_["critique"] = to_json(c, true); return *this; }
Update& Update::notes(const Notes& n) { j_["notes"] = {{"text", n.text}, {"hits", to_json(n.hits)}}; return *this; }
Update& Update::proposal(std::optional<int64_t> id) { j_["proposal"] = id ? json(*id) : json(nullptr); return *this; }
Update& Update::decision(Decision d) { j_["decision"] = decision_name(d); return *this; }
Update& Update::answer(const std::string& a) { j_["answer"] = a; return *this; }
Update& Update::turn(const Turn& t) { j_["transcript"].push_back(to_json(t)); return *this; }
Update& Update::exchange(const Exchange& e) { j_["history"].push_back({{"task", e.task}, {"answer", e.answer}}); return *this; }
Update& Update::forged(const Forged& f) { j_["forged"].push_back(to_json(f)); return *this; }

}  // namespace a4ps::persona
