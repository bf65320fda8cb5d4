// a4ps codex show | check | violations | amend   and   a4ps approvals ls | show | apply | approve | reject
#include <sstream>

#include "a4ps/governance.h"
#include "a4ps/image.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

json proposal_json(const ProposalInfo& p) {
  return {{"id", p.id}, {"kind", p.kind}, {"target", p.target}, {"status", p.status}, {"created_at", p.created_at},
          {"decided_at", p.decided_at}, {"reviewer", p.reviewer}, {"reason", p.reason}, {"payload", json::parse(p.payload_json)}};
}

std::string codex_text(const CodexInfo& c) {
  std::ostringstream o;
  o << "principles\n";
  for (auto& p : c.principles) o << "  " << p.name << ": " << p.text << "\n";
  o << "rules (each must hold at every event)\n";
  for (auto& r : c.rules)
    o << "  " << r.name << (r.builtin ? " [built-in]" : "") << ": " << r.check << "\n"
      << (r.message.empty() ? "" : "      " + r.message + "\n");
  return o.str();
}

Image open_image(const std::string& path, bool read_only) {
  return Image::open(path, {.create_if_missing = false, .read_only = read_only});
}

}  // namespace

void add_governance_commands(CLI::App& app, Globals& g) {
  static std::string path, file, reviewer, reason;
  static int64_t id = 0;
  auto* cx = sub(&app, "codex", "the Living Codex: principles and runtime-checked rules");
  cx->require_subcommand(1);
  {
    auto* c = sub(cx, "show", "the codex of an image (or the default one)");
    c->add_option("image", path, "image file (omit for the default codex)");
    c->callback([&g] {
      CodexInfo cdx = path.empty() ? default_codex() : image_codex(open_image(path, true));
      json j = {{"toml", cdx.toml}, {"rules", cdx.rules.size()}, {"principles", cdx.principles.size()}};
      emit(g, j, codex_text(cdx));
    });
  }
  {
    auto* c = sub(cx, "check", "parse and type-check a codex TOML file");
    c->add_option("file", file, "codex file")->required();
    c->callback([&g] {
      CodexInfo cdx = check_codex_file(file);
      emit(g, {{"ok", true}, {"rules", cdx.rules.size()}, {"principles", cdx.principles.size()}},
           "ok: " + file + " (" + std::to_string(cdx.principles.size()) + " principles, " +
               std::to_string(cdx.rules.size()) + " rules)\n");
    });
  }

  {
    auto* c = sub(cx, "violations", "what the codex refused in an image, newest last");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      json j = json::array();
      std::ostringstream o;
      for (auto& v : codex_violations(open_image(path, true))) {
        j.push_back({{"seq", v.seq}, {"ts", v.ts}, {"refused", json::parse(v.refused_json)}});
        o << v.ts << "  refused " << v.event << " by " << v.actor << ": " << v.why << "\n";
      }
      emit(g, j, j.empty() ? "the codex has refused nothing in " + path + "\n" : o.str());
    });
  }
  {
    auto* c = sub(cx, "amend", "propose a new codex for an image (takes effect once approved and applied)");
    c->add_option("image", path, "image file")->required();
    c->add_option("file", file, "the new codex (TOML)")->required();
    c->add_option("--reason", reason, "why the codex should change")->required();
    c->callback([&g] {
      Image img = open_image(path, false);
      int64_t id = propose_codex_amendment(img, read_file_bytes(file), reason);
      emit(g, {{"proposal", id}}, "proposed codex amendment #" + std::to_string(id) + "; a human decides with `a4ps approvals approve " +
                                      path + " " + std::to_string(id) + " --reason ...`, then `a4ps approvals apply " + path + " " +
                                      std::to_string(id) + "`\n");
    });
  }

  auto* ap = sub(&app, "approvals", "self-modification proposals waiting for (or given) a human's decision");
  ap->require_subcommand(1);
  {
    auto* c = sub(ap, "ls", "proposals, pending first");
    c->add_option("image", path, "image file")->required();
    static bool all = false;
    c->add_flag("--all", all, "include decided and applied ones");
    c->callback([&g] {
      json j = json::array();
      std::ostringstream o;
      for (auto& p : list_proposals(open_image(path, true), all ? "" : "pending")) {
        j.push_back(proposal_json(p));
        o << "#" << p.id << "  " << p.status << "  " << p.kind << "  " << p.target << "  " << p.created_at << "\n";
      }
      emit(g, j, j.empty() ? (all ? "no proposals\n" : "nothing waits for a decision\n") : o.str());
    });
  }
  {
    auto* c = sub(ap, "show", "one proposal with its payload");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "proposal number")->required();
    c->callback([&g] {
      auto d = show_proposal(open_image(path, true), id);
      const auto& p = d.info;
      emit(g, proposal_json(p), "#" + std::to_string(p.id) + " (" + p.status + ", " + p.created_at + ") " + d.summary + "\n" +
                                    (p.reason.empty() ? "" : "decided by " + p.reviewer + ": " + p.reason + "\n"));
    });
  }
  {
    auto* c = sub(ap, "apply", "carry out an approved proposal (codex amendments, tool and persona changes)");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "proposal number")->required();
    c->callback([&g] {
      Image img = open_image(path, false);
      auto p = show_proposal(img, id).info;
      int64_t v = apply_proposal(img, id);
      emit(g, {{"id", id}, {"status", "applied"}, {"version", v}},
           "applied proposal #" + std::to_string(id) + ": " + p.kind + " " + p.target + " is now version " + std::to_string(v) + "\n");
    });
  }
  for (bool approve : {true, false}) {
    auto* c = sub(ap, approve ? "approve" : "reject", approve ? "say yes to a proposal" : "say no to a proposal");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "proposal number")->required();
    c->add_option("--reason", reason, "why (kept in the audit log)")->required();
    c->add_option("--reviewer", reviewer, "who decides (default: $USER)");
    c->callback([&g, approve] {
      Image img = open_image(path, false);
      std::string who = decide_proposal(img, id, approve, reason, reviewer.empty() ? "" : "human:" + reviewer);
      emit(g, {{"id", id}, {"status", approve ? "approved" : "rejected"}, {"reviewer", who}},
           std::string(approve ? "approved" : "rejected") + " proposal #" + std::to_string(id) + "\n");
    });
  }
}

}  // namespace a4ps::cli
