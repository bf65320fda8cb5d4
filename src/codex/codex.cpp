// Codex documents: TOML in, TOML out, and the codex every image starts from.
#include <sstream>

#include <toml++/toml.h>

#include "codex/codex.h"

namespace a4ps::codex {

Codex parse_codex(std::string_view text, std::string_view origin) {
  toml::table t;
  try {
    t = toml::parse(text, std::string(origin));
  } catch (const toml::parse_error& e) {
    throw Error(std::string(origin) + ": line " + std::to_string(e.source().begin.line) + ", column " +
                std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  Codex c;
  for (auto& key : {"principles", "rules"})
    if (auto* a = t[key].as_array(); t.contains(key) && !(a && a->empty()) && !t[key].is_array_of_tables())
      throw Error(std::string(origin) + ": '" + key + "' must be a list of tables ([[" + key + "]])");
  for (auto&& [k, v] : t)
    if (k != "principles" && k != "rules")
      throw Error(std::string(origin) + ": unknown section '" + std::string(k.str()) + "'; expected [[principles]] or [[rules]]");
  if (auto* ps = t["principles"].as_array())
    for (size_t i = 0; i < ps->size(); ++i) {
      auto& p = *ps->at(i).as_table();
      auto name = p["name"].value<std::string>(), text = p["text"].value<std::string>();
      if (!name || !text)
        throw Error(std::string(origin) + ": principles[" + std::to_string(i + 1) + "] needs a name and a text");
      c.principles.push_back({*name, *text});
    }
  if (auto* rs = t["rules"].as_array())
    for (size_t i = 0; i < rs->size(); ++i) {
      auto& r = *rs->at(i).as_table();
      auto name = r["name"].value<std::string>(), check = r["check"].value<std::string>();
      if (!name || !check)
        throw Error(std::string(origin) + ": rules[" + std::to_string(i + 1) + "] needs a name and a check");
      for (auto& other : c.rules)
        if (other.name == *name) throw Error(std::string(origin) + ": two rules are named '" + *name + "'");
      try {
        compile(*check);
      } catch (const ParseError& e) {
        throw Error(std::string(origin) + ": rule '" + *name + "': " + e.what());
      }
      c.rules.push_back({*name, *check, r["message"].value_or(std::string()), r["builtin"].value_or(false)});
    }
  return c;
}

Codex default_codex() {
  Codex c;
  c.principles = {
      {"consent", "Nothing about yourself changes without a human's yes: new tools, tool versions, rules, "
                  "adapters and personas are proposals until a person approves them."},
      {"candour", "Say what you know, what you do not, and what you did. Every action leaves a record."},
      {"care", "Be exact in substance and kind in manner; the person's goal comes before cleverness."},
      {"restraint", "Act in the sandbox, offline, within limits; ask before anything irreversible."}};
  auto approved = [](const std::string& name, const std::string& object, const std::vector<std::string>& kinds) {
    std::string any, words;
    for (auto& k : kinds) {
      any += (any.empty() ? "" : " or ") + std::string("payload.kind == \"") + k + "\"";
      words += (words.empty() ? "" : " or ") + k;
    }
    if (kinds.size() > 1) any = "(" + any + ")";
    return Rule{name, "kind == \"" + object + ".version_added\" -> previously(kind == \"proposal.applied\" and " + any + ")",
                "a " + object + " changes only through an approved " + words + " proposal", true};
  };
  using image::ProposalKind;
  auto name = image::proposal_kind_name;
  c.rules = {approved("approved-tools", "tool", {name(ProposalKind::ToolRegister), name(ProposalKind::ToolRollback)}),
             approved("approved-adapters", "adapter", {name(ProposalKind::AdapterActivate)}),
             approved("approved-personas", "persona", {name(ProposalKind::PersonaChange)}),
             approved("approved-amendments", "codex", {name(ProposalKind::CodexAmend)}),
             {"sandbox-offline", "kind == \"sandbox.run\" -> payload.network == \"none\"",
              "agent code runs without network", true}};
  return c;
}

std::string to_toml(const Codex& c) {
  toml::table t;
  toml::array ps, rs;
  for (auto& p : c.principles) ps.push_back(toml::table{{"name", p.name}, {"text", p.text}});
  for (auto& r : c.rules) {
    toml::table x{{"name", r.name}, {"check", r.check}};
    if (!r.message.empty()) x.insert("message", r.message);
    if (r.builtin) x.insert("builtin", true);
    rs.push_back(std::move(x));
  }
  // An empty list is left out: `principles = []` reads as "no principles" too, but is noise.
  if (!ps.empty()) t.insert("principles", std::move(ps));
  if (!rs.empty()) t.insert("rules", std::move(rs));
  std::ostringstream o;
  o << t << "\n";
  return o.str();
}

Codex image_codex(const image::Image& img) {
  auto doc = img.get(image::Kind::Codex, "codex");
  return doc && !doc->removed ? parse_codex(doc->content, img.path().string() + " codex") : default_codex();
}

image::Image open_guarded(const std::filesystem::path& path) {
  auto img = image::Image::open(path);
  img.set_guard(guard(image_codex(img)));
  return img;
}

}  // namespace a4ps::codex
