// The public governance API: proposals a human decides, and the image's Living Codex.
#include "a4ps/governance.h"

#include <cstdlib>

#include "api/internal.h"
#include "codex/codex.h"
#include "governance/governance.h"
#include "image/diff.h"
#include "util/util.h"

namespace a4ps {

using json = nlohmann::json;

namespace {

ProposalInfo info_of(const image::Proposal& p) {
  return {.id = p.id, .kind = p.kind, .target = p.target, .status = p.status, .created_at = p.created_at,
          .decided_at = p.decided_at, .reviewer = p.reviewer, .reason = p.reason, .payload_json = p.payload.dump()};
}

image::Proposal find(const Image& im, int64_t id) {
  for (auto& p : im.impl().img.proposals())
    if (p.id == id) return p;
  throw Error("no proposal " + std::to_string(id) + " in " + im.path() + "; see `a4ps approvals ls " + im.path() + " --all`");
}

std::string text_of(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// The object a proposal's apply would add a version of (the codex's rules watch those events).
std::string object_kind(const image::Proposal& p) {
  if (auto k = p.type()) switch (*k) {
      case image::ProposalKind::ToolRegister:
      case image::ProposalKind::ToolRollback: return "tool";
      case image::ProposalKind::PersonaChange: return "persona";
      case image::ProposalKind::CodexAmend: return "codex";
      case image::ProposalKind::AdapterActivate: return "adapter";
    }
  return "";
}

// A dry run of the codex over what applying p would log, after everything logged so far:
// the rules it would break, as "name: message". Nothing is written.
std::vector<std::string> codex_problems(const image::Image& img, const image::Proposal& p) {
  std::string kind = object_kind(p);
  if (kind.empty()) return {};
  codex::Codex cdx = codex::image_codex(img);
  codex::Monitor m = codex::monitor_at_head(img, cdx);  // not a replay of the whole log per proposal shown
  int64_t seq = m.seen();
  std::string ts = now_utc();
  image::Event applied{.seq = seq + 1, .ts = ts, .kind = "proposal.applied", .actor = "a4ps",
                       .payload = json{{"id", p.id}, {"kind", p.kind}, {"target", p.target}}.dump()};
  image::Event added{.seq = seq + 2, .ts = ts, .kind = kind + ".version_added", .actor = "a4ps",
                     .payload = json{{"name", p.target}, {"version", 0}}.dump()};
  std::vector<std::string> out;
  for (auto* e : {&applied, &added})
    for (auto* r : m.step(*e)) out.push_back(r->name + (r->message.empty() ? "" : ": " + r->message));
  m.rollback();
  return out;
}

CodexInfo codex_info(const codex::Codex& c) {
  CodexInfo i{.toml = codex::to_toml(c)};
  for (auto& p : c.principles) i.principles.push_back({p.name, p.text});
  for (auto& r : c.rules) i.rules.push_back({r.name, r.check, r.message, r.builtin});
  return i;
}

}  // namespace

std::vector<ProposalInfo> list_proposals(const Image& image, const std::string& status) {
  if (!status.empty() && status != "pending" && status != "approved" && status != "rejected" && status != "applied")
    throw Error("no proposal status '" + status + "'; use pending, approved, rejected or applied (or none for all)");
  std::vector<ProposalInfo> out;
  for (auto& p : image.impl().img.proposals(status)) out.push_back(info_of(p));
  return out;
}

ProposalDetail show_proposal(const Image& image, int64_t id) {
  auto p = find(image, id);
  const json& j = p.payload;
  ProposalDetail d{.info = info_of(p), .summary = governance::describe(p), .before = text_of(j, "before"),
                   .after = text_of(j, "after"), .why = text_of(j, "why"), .tests = text_of(j, "tests")};
  if (j.is_object() && j.contains("after"))
    d.diff = image::unified_diff(d.before, d.after, p.target + " (now)", p.target + " (proposed)");
  if (j.is_object() && j.value("attempts", json()).is_number_integer()) d.forge_attempts = j["attempts"].get<int64_t>();
  d.tests_passed = d.forge_attempts > 0 && !d.tests.empty();  // the forge proposes only what passed
  if (j.is_object() && j.value("drops_builtin_rules", json()).is_array())
    for (auto& r : j["drops_builtin_rules"])
      if (r.is_string()) d.drops_builtin_rules.push_back(r);
  if (p.type() == image::ProposalKind::AdapterActivate) {
    d.persona = text_of(j, "persona");
    d.base_sha256 = text_of(j, "base_sha256");
    d.blob_sha256 = text_of(j, "blob_sha256");
    d.metrics_json = j.value("metrics", json::object()).dump();
  }
  if (p.is(image::ProposalStatus::Pending) || p.is(image::ProposalStatus::Approved))
    d.codex_problems = codex_problems(image.impl().img, p);
  return d;
}

std::string decide_proposal(Image& image, int64_t id, bool approve, const std::string& reason, const std::string& reviewer) {
  writable(image);
  if (reason.empty()) throw Error("a decision needs a reason (the audit log keeps it)");
  find(image, id);
  std::string who = reviewer;
  if (who.empty()) who = std::string("human:") + (std::getenv("USER") ? std::getenv("USER") : "human");
  image.impl().img.decide(id, approve, who, reason);
  return who;
}

int64_t apply_proposal(Image& image, int64_t id) {
  writable(image);
  auto p = find(image, id);
  auto& img = image.impl().img;
  int64_t version = governance::apply(img, id);
  // An amended codex guards this handle's next write too, not only the next open's.
  if (p.type() == image::ProposalKind::CodexAmend) img.set_guard(codex::guard(codex::image_codex(img)));
  return version;
}

CodexInfo default_codex() { return codex_info(codex::default_codex()); }

CodexInfo image_codex(const Image& image) { return codex_info(codex::image_codex(image.impl().img)); }

CodexInfo check_codex(const std::string& toml, const std::string& origin) { return codex_info(codex::parse_codex(toml, origin)); }

CodexInfo check_codex_file(const std::string& path) {
  return check_codex(read_file(path), path);
}

std::vector<CodexViolation> codex_violations(const Image& image) {
  std::vector<CodexViolation> out;
  for (auto& e : image.impl().img.events())
    if (e.kind == "codex.violation") {
      json p = json::parse(e.payload, nullptr, false);
      if (!p.is_object()) p = json::object();
      out.push_back({.seq = e.seq, .ts = e.ts, .event = p.value("event", "?"), .actor = p.value("actor", "?"),
                     .why = p.value("why", ""), .refused_json = p.dump()});
    }
  return out;
}

int64_t propose_codex_amendment(Image& image, const std::string& toml, const std::string& reason) {
  writable(image);
  if (reason.empty()) throw Error("a codex amendment needs a reason (the audit log keeps it)");
  return governance::propose_amendment(image.impl().img, toml, reason);
}

}  // namespace a4ps
