// Goals read from ALFRED's reply, similarity, the hybrid reward and the codex veto (goals.h).
#include "live/goals.h"

#include <cctype>
#include <cmath>
#include <map>

#include "codex/codex.h"
#include "image/image.h"
#include "util/util.h"

namespace a4ps::live {
namespace {

// The JSON inside a reply: the whole text, else the first fenced block, else from the
// first '[' or '{' to the matching last one.
json json_in(const std::string& reply) {
  json j = json::parse(reply, nullptr, false);
  if (!j.is_discarded()) return j;
  if (auto f = reply.find("```"); f != std::string::npos) {
    auto nl = reply.find('\n', f);
    auto end = nl == std::string::npos ? std::string::npos : reply.find("```", nl);
    if (end != std::string::npos) {
      j = json::parse(reply.substr(nl + 1, end - nl - 1), nullptr, false);
      if (!j.is_discarded()) return j;
    }
  }
  for (auto [open, close] : {std::pair{'[', ']'}, std::pair{'{', '}'}}) {
    auto a = reply.find(open), b = reply.rfind(close);
    if (a != std::string::npos && b != std::string::npos && b > a) {
      j = json::parse(reply.substr(a, b - a + 1), nullptr, false);
      if (!j.is_discarded()) return j;
    }
  }
  return json();
}

std::string str(const json& o, const char* k) { return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : ""; }

std::map<std::string, double> trigrams(const std::string& s) {
  std::string t = " ";
  for (unsigned char c : s) {
    char x = std::isspace(c) ? ' ' : static_cast<char>(std::tolower(c));
    if (x == ' ' && t.back() == ' ') continue;
    t += x;
  }
  if (t.back() != ' ') t += ' ';
  std::map<std::string, double> m;
  for (size_t i = 0; i + 3 <= t.size(); ++i) m[t.substr(i, 3)] += 1;
  return m;
}

double unit(int score) { return score <= 0 ? 0.5 : (std::min(score, 5) - 1) / 4.0; }

}  // namespace

std::vector<ProposedGoal> parse_goals(const std::string& reply, std::vector<std::string>* skipped) {
  json j = json_in(reply);
  if (j.is_object() && j.contains("goals")) j = j["goals"];
  if (j.is_object()) j = json::array({j});
  std::vector<ProposedGoal> out;
  if (!j.is_array()) {
    if (skipped) skipped->push_back("the reply holds no JSON list of goals");
    return out;
  }
  for (size_t i = 0; i < j.size(); ++i) {
    const json& g = j[i];
    std::string why;
    if (!g.is_object()) why = "not an object";
    else if (str(g, "family").empty()) why = "no family";
    else if (str(g, "task").empty()) why = "no task";
    else if (str(g, "test").find("assert") == std::string::npos) why = "no machine-checkable test (Python assert)";
    if (!why.empty()) {
      if (skipped) skipped->push_back("goal " + std::to_string(i + 1) + ": " + why);
      continue;
    }
    ProposedGoal p{str(g, "family"), str(g, "title"), str(g, "task"), str(g, "test"), str(g, "source")};
    if (p.title.empty()) p.title = p.task.substr(0, 80);
    for (const char* k : {"needs", "effects", "forge"})
      if (g.contains(k)) p.plan[k] = g[k];
    out.push_back(std::move(p));
  }
  return out;
}

double text_similarity(const std::string& a, const std::string& b) {
  auto x = trigrams(a), y = trigrams(b);
  double dot = 0, nx = 0, ny = 0;
  for (auto& [k, v] : x) {
    nx += v * v;
    if (auto it = y.find(k); it != y.end()) dot += v * it->second;
  }
  for (auto& [k, v] : y) ny += v * v;
  return nx > 0 && ny > 0 ? dot / std::sqrt(nx * ny) : 0;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
}

json Reward::to_json() const {
  return {{"competence", competence}, {"progress", progress}, {"grace", grace}, {"justice", justice},
          {"codex", codex}, {"total", total}};
}

Reward reward(const RewardParts& p, const RewardWeights& w) {
  Reward r;
  r.competence = p.passed ? 1 : 0;
  r.progress = std::clamp(p.lp, 0.0, 1.0);
  r.grace = unit(p.grace);
  r.justice = unit(p.justice);
  r.codex = p.violations > 0 ? 0 : 1;
  double wsum = w.competence + w.progress + w.grace + w.justice + w.codex;
  r.total = wsum <= 0 ? 0
                      : (w.competence * r.competence + w.progress * r.progress + w.grace * r.grace +
                         w.justice * r.justice + w.codex * r.codex) / wsum;
  return r;
}

int parse_score(const std::string& reply, std::string* why) {
  json j = json_in(reply);
  if (!j.is_object() || !j.contains("score") || !j["score"].is_number()) return 0;
  if (why) *why = str(j, "why");
  int s = static_cast<int>(std::lround(j["score"].get<double>()));
  return s < 1 || s > 5 ? 0 : s;
}

std::string veto(const image::Image& img, const json& plan) {
  std::vector<json> planned;  // {"kind": ..., payload fields...}
  if (plan.contains("needs") && plan["needs"].is_array())
    for (auto& n : plan["needs"]) {
      std::string need = n.is_string() ? n.get<std::string>() : "";
      if (need == "network") planned.push_back({{"kind", "sandbox.run"}, {"network", "host"}, {"provider", "live"}});
      else if (need == "self-change") planned.push_back({{"kind", "tool.version_added"}, {"name", "self"}, {"version", 1}});
    }
  if (plan.contains("effects") && plan["effects"].is_array())
    for (auto& e : plan["effects"])
      if (e.is_object() && e.contains("kind") && e["kind"].is_string()) planned.push_back(e);
  if (planned.empty()) return "";
  codex::Monitor m(codex::image_codex(img));
  int64_t seq = 0;
  for (auto& e : img.events()) {
    m.step(e);
    m.commit();
    seq = e.seq;
  }
  std::string why;
  const std::string ts = now_utc();
  for (auto& p : planned) {
    json payload = p;
    payload.erase("kind");
    image::Event e{.seq = ++seq, .ts = ts, .kind = p["kind"].get<std::string>(), .actor = "live", .payload = payload.dump()};
    for (auto* r : m.step(e))
      why += (why.empty() ? "" : "; ") + std::string("codex rule ") + r->name + " refuses " + e.kind +
             (r->message.empty() ? "" : " (" + r->message + ")");
  }
  m.rollback();
  return why;
}

}  // namespace a4ps::live
