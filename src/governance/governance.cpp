#include "governance/governance.h"

#include <algorithm>
#include <cstdio>

#include "codex/codex.h"
#include "image/diff.h"
#include "util/util.h"

namespace a4ps::governance {

using json = nlohmann::json;

Decision await_decision(graph::NodeContext& ctx, const image::Image& img, int64_t id) {
  for (;;) {
    std::optional<image::Proposal> p;
    for (auto& x : img.proposals())
      if (x.id == id) p = x;
    if (!p) throw Error("proposal " + std::to_string(id) + " disappeared from the image");
    if (p->is(image::ProposalStatus::Approved) || p->is(image::ProposalStatus::Applied)) return Decision::Approved;
    if (p->is(image::ProposalStatus::Rejected)) return Decision::Rejected;
    // Still pending: stop here. A resume that comes before the decision stops again.
    ctx.interrupt({{"proposal", id}, {"kind", p->kind}, {"target", p->target}, {"summary", describe(*p)},
                   {"question", "a human must decide: a4ps approvals approve|reject IMAGE " + std::to_string(id) +
                                    " --reason ..., then resume this thread"}});
  }
}

int64_t apply(image::Image& img, int64_t id) {
  int64_t version = 0;
  img.apply(id, [&](const image::Proposal& p) {
    const std::string after = p.payload.is_object() ? p.payload.value("after", "") : "";
    if (auto kind = p.type()) switch (*kind) {
      case image::ProposalKind::ToolRegister:
      case image::ProposalKind::ToolRollback:
        version = img.put(image::Kind::Tool, p.target, after);
        return;
      case image::ProposalKind::PersonaChange:
        version = img.put(image::Kind::Persona, p.target, after);
        return;
      case image::ProposalKind::CodexAmend:
        codex::parse_codex(after, "the amended codex");  // never store a codex that does not check
        version = img.put(image::Kind::Codex, "codex", after);
        return;
      case image::ProposalKind::AdapterActivate: {
        const json& j = p.payload;
        version = img.put(image::Kind::Adapter, p.target, j.value("description", ""),
                          {{"base_sha256", j.value("base_sha256", "")}, {"persona", j.value("persona", "")},
                           {"metrics", j.value("metrics", json::object())}},
                          img.blob(j.value("blob_sha256", "")));
        return;
      }
    }
    throw Error("proposal " + std::to_string(id) + " is a " + p.kind + " proposal, which cannot be applied here");
  });
  return version;
}

int64_t propose_adapter(image::Image& img, const std::string& name, const std::string& bytes,
                        const std::string& base_sha256, const std::string& persona, const json& metrics) {
  if (bytes.size() < 4 || bytes.compare(0, 4, "GGUF") != 0) throw Error("adapter '" + name + "' is not a GGUF file");
  image::Image::Tx tx(img);
  std::string sum = img.store_blob(bytes);
  auto cur = img.get(image::Kind::Adapter, name);
  int64_t id = img.propose(image::ProposalKind::AdapterActivate, name,
                           {{"blob_sha256", sum}, {"base_sha256", base_sha256}, {"persona", persona}, {"metrics", metrics},
                            {"description", "LoRA adapter for " + persona}, {"replaces", cur ? cur->blob_sha256 : ""}});
  tx.commit();
  return id;
}

int64_t propose_amendment(image::Image& img, const std::string& toml, const std::string& why) {
  codex::Codex next = codex::parse_codex(toml, "the proposed codex");
  auto cur_doc = img.get(image::Kind::Codex, "codex");
  codex::Codex cur = cur_doc ? codex::parse_codex(cur_doc->content, "the current codex") : codex::default_codex();
  json dropped = json::array();
  for (auto& r : cur.rules)
    if (r.builtin && std::none_of(next.rules.begin(), next.rules.end(), [&](auto& n) { return n.name == r.name && n.check == r.check; }))
      dropped.push_back(r.name);
  return img.propose(image::ProposalKind::CodexAmend, "codex",
                     {{"before", cur_doc ? cur_doc->content : codex::to_toml(cur)}, {"after", toml}, {"why", why},
                      {"drops_builtin_rules", dropped}});
}

std::string describe(const image::Proposal& p) {
  std::string out = p.kind + " " + p.target;
  const auto& j = p.payload;
  if (j.is_object() && j.contains("drops_builtin_rules") && !j["drops_builtin_rules"].empty())
    out += "\nWARNING: removes or changes built-in rules " + j["drops_builtin_rules"].dump();
  if (j.is_object() && j.contains("why") && j["why"].is_string()) out += "\nwhy: " + j["why"].get<std::string>();
  if (j.is_object() && j.contains("after") && j["after"].is_string()) {
    std::string before = j.contains("before") && j["before"].is_string() ? j["before"].get<std::string>() : "";
    out += "\n" + image::unified_diff(before, j["after"].get<std::string>(), p.target + " (now)", p.target + " (proposed)");
  }
  // An adapter the live loop compared with the active one: the evidence, for the person deciding.
  const json* cmp = j.is_object() && j.contains("metrics") && j["metrics"].is_object() ? &j["metrics"] : nullptr;
  if (cmp && cmp->contains("live_comparison") && (*cmp)["live_comparison"].is_object()) {
    const json& c = (*cmp)["live_comparison"];
    auto text = [](const json& o, const char* k) {  // one line each
      std::string t = o.is_object() && o.contains(k) && o[k].is_string() ? utf8_clip(o[k].get<std::string>(), 80) : "";
      std::replace(t.begin(), t.end(), '\n', ' ');
      return t;
    };
    auto num = [](const json& o, const char* k) { return o.is_object() && o.contains(k) && o[k].is_number() ? o[k].get<double>() : 0.0; };
    char b[160];
    std::snprintf(b, sizeof b, "%.4f against %.4f", num(c, "loss"), num(c, "against_loss"));
    out += "\n" + text(c, "measure") + " loss " + b + " of " + text(c, "against");
    const json n = c.value("goal_tests_passed", json::object());
    const std::string other = text(n, "against").empty() ? "the active adapter" : text(n, "against");
    if (num(n, "goals") > 0) {
      std::snprintf(b, sizeof b, "goal tests: %.0f/%.0f with it, %.0f/%.0f with ", num(n, "candidate"), num(n, "goals"),
                    num(n, "active"), num(n, "goals"));
      out += "\n" + std::string(b) + other;
    }
    for (auto& g : c.value("goal_tests", json::array())) {
      auto passed = [&](const char* k) {
        return g.contains(k) && g[k].is_object() && g[k].value("passed", false) ? std::string("pass") : std::string("fail");
      };
      out += "\n  goal " + std::to_string(static_cast<int64_t>(num(g, "goal"))) + " (" + text(g, "title") + "): " +
             passed("candidate") + " with it, " + passed("active") + " with " + other;
    }
    for (auto& q : c.value("probes", json::array()))
      if (q.is_object() && q.contains("prompt"))
        out += "\n  probe: " + text(q, "prompt") + "\n    with it: " + text(q, "candidate") + "\n    with " + other + ": " +
               text(q, "active");
  }
  return out;
}

}  // namespace a4ps::governance
