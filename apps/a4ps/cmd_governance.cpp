// a4ps codex show | check   and   a4ps approvals ls | show | approve | reject
#include <sstream>

#include "cli.h"
#include "codex/codex.h"
#include "governance/governance.h"
#include "image/image.h"
#include "util/util.h"

namespace a4ps::cli {
namespace {

using nlohmann::json;

json proposal_json(const image::Proposal& p) {
  return {{"id", p.id}, {"kind", p.kind}, {"target", p.target}, {"status", p.status}, {"created_at", p.created_at},
          {"decided_at", p.decided_at}, {"reviewer", p.reviewer}, {"reason", p.reason}, {"payload", p.payload}};
}

std::string codex_text(const codex::Codex& c) {
  std::ostringstream o;
  o << "principles\n";
  for (auto& p : c.principles) o << "  " << p.name << ": " << p.text << "\n";
  o << "rules (each must hold at every event)\n";
  for (auto& r : c.rules)
    o << "  " << r.name << (r.builtin ? " [built-in]" : "") << ": " << r.check << "\n"
      << (r.message.empty() ? "" : "      " + r.message + "\n");
  return o.str();
}

}  // namespace

codex::Codex image_codex(const image::Image& img) {
  auto doc = img.get(image::Kind::Codex, "codex");
  return doc ? codex::parse_codex(doc->content, img.path().string() + " codex") : codex::default_codex();
}

image::Image open_guarded(const std::string& path) {
  auto img = image::Image::open(path);
  img.set_guard(codex::guard(image_codex(img)));
  return img;
}

void add_governance_commands(CLI::App& app, Globals& g) {
  static std::string path, file, reviewer, reason;
  static int64_t id = 0;
  auto* cx = sub(&app, "codex", "the Living Codex: principles and runtime-checked rules");
  cx->require_subcommand(1);
  {
    auto* c = sub(cx, "show", "the codex of an image (or the default one)");
    c->add_option("image", path, "image file (omit for the default codex)");
    c->callback([&g] {
      codex::Codex cdx = path.empty() ? codex::default_codex() : image_codex(image::Image::open(path, {.read_only = true}));
      json j = {{"toml", codex::to_toml(cdx)}, {"rules", cdx.rules.size()}, {"principles", cdx.principles.size()}};
      emit(g, j, codex_text(cdx));
    });
  }
  {
    auto* c = sub(cx, "check", "parse and type-check a codex TOML file");
    c->add_option("file", file, "codex file")->required();
    c->callback([&g] {
      codex::Codex cdx = codex::parse_codex(read_file(file), file);
      emit(g, {{"ok", true}, {"rules", cdx.rules.size()}, {"principles", cdx.principles.size()}},
           "ok: " + file + " (" + std::to_string(cdx.principles.size()) + " principles, " +
               std::to_string(cdx.rules.size()) + " rules)\n");
    });
  }

  {
    auto* c = sub(cx, "violations", "what the codex refused in an image, newest last");
    c->add_option("image", path, "image file")->required();
    c->callback([&g] {
      auto img = image::Image::open(path, {.read_only = true});
      json j = json::array();
      std::ostringstream o;
      for (auto& e : img.events())
        if (e.kind == "codex.violation") {
          json p = json::parse(e.payload);
          j.push_back({{"seq", e.seq}, {"ts", e.ts}, {"refused", p}});
          o << e.ts << "  refused " << p.value("event", "?") << " by " << p.value("actor", "?") << ": "
            << p.value("why", "") << "\n";
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
      auto img = open_guarded(path);
      int64_t id = governance::propose_amendment(img, read_file(file), reason);
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
      auto img = image::Image::open(path, {.read_only = true});
      json j = json::array();
      std::ostringstream o;
      for (auto& p : img.proposals(all ? "" : "pending")) {
        j.push_back(proposal_json(p));
        o << "#" << p.id << "  " << p.status << "  " << p.kind << "  " << p.target << "  " << p.created_at << "\n";
      }
      emit(g, j, j.empty() ? (all ? "no proposals\n" : "nothing waits for a decision\n") : o.str());
    });
  }
  auto find = [](image::Image& img) {
    for (auto& p : img.proposals())
      if (p.id == id) return p;
    throw Error("no proposal " + std::to_string(id) + " in " + path + "; see `a4ps approvals ls " + path + " --all`");
  };
  {
    auto* c = sub(ap, "show", "one proposal with its payload");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "proposal number")->required();
    c->callback([&g, find] {
      auto img = image::Image::open(path, {.read_only = true});
      auto p = find(img);
      emit(g, proposal_json(p), "#" + std::to_string(p.id) + " (" + p.status + ", " + p.created_at + ") " +
                                    governance::describe(p) + "\n" +
                                    (p.reason.empty() ? "" : "decided by " + p.reviewer + ": " + p.reason + "\n"));
    });
  }
  {
    auto* c = sub(ap, "apply", "carry out an approved proposal (codex amendments, tool and persona changes)");
    c->add_option("image", path, "image file")->required();
    c->add_option("id", id, "proposal number")->required();
    c->callback([&g, find] {
      auto img = open_guarded(path);
      auto p = find(img);
      int64_t v = governance::apply(img, id);
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
    c->callback([&g, approve, find] {
      auto img = open_guarded(path);
      find(img);
      std::string who = reviewer;
      if (who.empty()) who = std::getenv("USER") ? std::getenv("USER") : "human";
      img.decide(id, approve, "human:" + who, reason);
      emit(g, {{"id", id}, {"status", approve ? "approved" : "rejected"}, {"reviewer", "human:" + who}},
           std::string(approve ? "approved" : "rejected") + " proposal #" + std::to_string(id) + "\n");
    });
  }
}

}  // namespace a4ps::cli
