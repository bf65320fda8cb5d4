#include "persona/persona.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "codex/codex.h"
#include "util/util.h"

namespace a4ps::persona {
namespace {

// The four defaults, written as the TOML a user would write: their character matters.
constexpr const char* kAlfred = R"toml(
name = "ALFRED"
role = "supervisor: routes each turn, writes the answer, judges, guards the codex"
colour = "blue"
actions = ["route", "answer"]
max_tokens = 384
system = """
You are ALFRED, the supervisor of a small company of minds: BRICK builds, ROBIN critiques, BABS researches.
You are dry, brief and responsible. You decide who speaks next and why, in one sentence.
You never pad an answer, never flatter, and never claim work that was not done.
When the work is good enough, you stop the deliberation and write the answer yourself:
plain, correct, and no longer than it needs to be. If something could not be done, you say so."""

[sampling]
temperature = 0.2
)toml";

constexpr const char* kBrick = R"toml(
name = "BRICK"
role = "logical builder: reasons exactly, writes and runs Python, forges missing tools"
colour = "red"
actions = ["act", "forge"]
max_tokens = 512
system = """
You are BRICK, the logical builder. You are exact, literal and thorough; you value correctness and justice.
You work by writing small Python programs and reading what they print. Put code in one ```python block;
the last expression's value and everything printed come back to you. Use the registered tools by name.
If you need a function that does not exist yet, call it anyway with clear arguments: the Tool Forge
will write it, test it, and ask a human before it becomes part of you.
When no code is needed, answer in short numbered steps. State assumptions; never guess silently."""

[sampling]
temperature = 0.1
)toml";

constexpr const char* kRobin = R"toml(
name = "ROBIN"
role = "empathetic critic: reviews the work for care, fit and truth"
colour = "magenta"
actions = ["critique"]
max_tokens = 256
system = """
You are ROBIN, the critic with a warm heart and a clear eye. You value grace.
You read BRICK's work as the person who asked would read it: does it answer what they meant,
is it correct, is it kind, is anything missing or overdone? You are discerning, not fussy:
accept work that is right and clear; ask for a revision only with concrete reasons that
BRICK can act on. Never rewrite the work yourself."""

[sampling]
temperature = 0.3
)toml";

constexpr const char* kBabs = R"toml(
name = "BABS"
role = "researcher: retrieves from the image's memory and tools, reports what she found"
colour = "green"
actions = ["retrieve"]
max_tokens = 384
system = """
You are BABS, the researcher. You are thorough and quick, and you cite what you found.
You are given passages retrieved from memory. Report only what they support, with the
source of each point in brackets; say plainly when nothing relevant was found.
Summarise; do not speculate beyond the sources."""

[sampling]
temperature = 0.2
)toml";

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> strings(const toml::table& t, const char* key, std::string_view origin) {
  std::vector<std::string> out;
  if (!t.contains(key)) return out;
  auto* a = t[key].as_array();
  if (!a) throw Error(std::string(origin) + ": '" + key + "' must be a list of strings");
  for (auto& v : *a) {
    auto s = v.value<std::string>();
    if (!s) throw Error(std::string(origin) + ": '" + key + "' must be a list of strings");
    out.push_back(*s);
  }
  return out;
}

}  // namespace

bool Spec::can(std::string_view action) const {
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

Spec parse_spec(std::string_view text, std::string_view origin) {
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw Error(std::string(origin) + ": line " + std::to_string(e.source().begin.line) + ": " +
                std::string(e.description()));
  }
  static const char* known[] = {"name", "role", "system", "model", "adapter", "sampling", "max_tokens",
                                "actions", "principles", "colour"};
  for (auto&& [k, v] : t)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* n) { return k.str() == n; }) == std::end(known))
      throw Error(std::string(origin) + ": unknown field '" + std::string(k.str()) +
                  "'; persona fields are name, role, system, model, adapter, sampling, max_tokens, actions, principles, colour");
  Spec s;
  auto str = [&](const char* key, bool required) {
    auto v = t[key].value<std::string>();
    if (!v && t.contains(key)) throw Error(std::string(origin) + ": '" + key + "' must be a string");
    if (!v && required) throw Error(std::string(origin) + ": a persona needs '" + key + "' (e.g. " + key + " = \"...\")");
    return v.value_or("");
  };
  s.name = str("name", true);
  if (s.name.empty() || s.name.size() > 40 ||
      !std::all_of(s.name.begin(), s.name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }))
    throw Error(std::string(origin) + ": name '" + s.name + "' must be 1-40 letters, digits, '-' or '_'");
  s.name = upper(s.name);
  s.role = str("role", true);
  s.system = str("system", true);
  s.model = str("model", false);
  s.adapter = str("adapter", false);
  s.colour = str("colour", false);
  if (auto m = t["max_tokens"].value<int64_t>()) {
    if (*m < 1 || *m > 32768) throw Error(std::string(origin) + ": max_tokens must be between 1 and 32768");
    s.max_tokens = static_cast<int>(*m);
  }
  s.actions = strings(t, "actions", origin);
  for (auto& a : s.actions)
    if (std::find_if(std::begin(kActions), std::end(kActions), [&](const char* k) { return a == k; }) == std::end(kActions))
      throw Error(std::string(origin) + ": unknown action '" + a + "'; actions are route, answer, act, forge, critique, retrieve, respond");
  if (s.actions.empty()) s.actions = {"respond"};
  s.principles = strings(t, "principles", origin);
  if (auto* sp = t["sampling"].as_table()) {
    for (auto&& [k, v] : *sp) {
      std::string key(k.str());
      s.sampling_given.push_back(key);
      auto num = v.value<double>();
      if (!num) throw Error(std::string(origin) + ": sampling." + key + " must be a number");
      if (key == "temperature") s.sampling.temperature = static_cast<float>(*num);
      else if (key == "top_p") s.sampling.top_p = static_cast<float>(*num);
      else if (key == "top_k") s.sampling.top_k = static_cast<int>(*num);
      else if (key == "seed") s.sampling.seed = static_cast<uint32_t>(*num);
      else throw Error(std::string(origin) + ": unknown sampling field '" + key + "'; use temperature, top_p, top_k, seed");
    }
    if (s.sampling.temperature < 0 || s.sampling.temperature > 5) throw Error(std::string(origin) + ": sampling.temperature must be between 0 and 5");
  } else if (t.contains("sampling")) {
    throw Error(std::string(origin) + ": 'sampling' must be a table ([sampling])");
  }
  static const char* colours[] = {"", "red", "green", "yellow", "blue", "magenta", "cyan"};
  if (std::find_if(std::begin(colours), std::end(colours), [&](const char* c) { return s.colour == c; }) == std::end(colours))
    throw Error(std::string(origin) + ": colour must be one of red, green, yellow, blue, magenta, cyan");
  return s;
}

std::string to_toml(const Spec& s) {
  toml::table t{{"name", s.name}, {"role", s.role}, {"system", s.system}, {"max_tokens", s.max_tokens}};
  if (!s.model.empty()) t.insert("model", s.model);
  if (!s.adapter.empty()) t.insert("adapter", s.adapter);
  if (!s.colour.empty()) t.insert("colour", s.colour);
  toml::array acts, prs;
  for (auto& a : s.actions) acts.push_back(a);
  for (auto& p : s.principles) prs.push_back(p);
  t.insert("actions", std::move(acts));
  if (!s.principles.empty()) t.insert("principles", std::move(prs));
  toml::table sp{{"temperature", static_cast<double>(s.sampling.temperature)}};
  if (s.sampling.top_p != 1) sp.insert("top_p", static_cast<double>(s.sampling.top_p));
  if (s.sampling.top_k) sp.insert("top_k", s.sampling.top_k);
  t.insert("sampling", std::move(sp));
  std::ostringstream o;
  o << t << "\n";
  return o.str();
}

std::vector<Spec> builtin_specs() {
  // Parsed once: the agent asks for the personas (and so these) at every node.
  static const std::vector<Spec> parsed = [] {
    std::vector<Spec> out;
    for (const char* text : {kAlfred, kBrick, kRobin, kBabs}) {
      Spec s = parse_spec(text, "built-in persona");
      s.builtin = true;
      out.push_back(std::move(s));
    }
    return out;
  }();
  return parsed;
}

std::vector<Spec> load_all(const image::Image& img) {
  std::vector<Spec> out = builtin_specs();
  for (auto& o : img.list(image::Kind::Persona)) {
    Spec s = parse_spec(o.content, "persona " + o.name + " v" + std::to_string(o.version));
    s.version = o.version;
    auto it = std::find_if(out.begin(), out.end(), [&](const Spec& b) { return b.name == s.name; });
    if (it != out.end()) *it = std::move(s);
    else out.push_back(std::move(s));
  }
  return out;
}

std::optional<Spec> find(const image::Image& img, std::string_view name) {
  std::string n = upper(std::string(name));
  for (auto& s : load_all(img))
    if (s.name == n) return s;
  return std::nullopt;
}

int64_t propose_change(image::Image& img, const std::string& toml, const std::string& why) {
  Spec s = parse_spec(toml, "the proposed persona");
  auto cur = img.get(image::Kind::Persona, s.name);
  std::string before = cur ? cur->content : "";
  if (!cur)
    for (auto& b : builtin_specs())
      if (b.name == s.name) before = to_toml(b);
  return img.propose(image::ProposalKind::PersonaChange, s.name, {{"before", before}, {"after", toml}, {"why", why}});
}

llm::Sampling sampling_for(const Spec& s, const std::string& image_parameters) {
  llm::Sampling out = s.sampling;
  auto p = nlohmann::json::parse(image_parameters, nullptr, false);
  if (p.is_discarded() || !p.is_object()) return out;
  auto given = [&](const char* k) {
    return std::find(s.sampling_given.begin(), s.sampling_given.end(), k) != s.sampling_given.end() || !p.contains(k) ||
           !p[k].is_number();
  };
  if (!given("temperature")) out.temperature = std::clamp(p["temperature"].get<float>(), 0.0f, 5.0f);
  if (!given("top_p")) out.top_p = std::clamp(p["top_p"].get<float>(), 0.0f, 1.0f);
  if (!given("top_k")) out.top_k = std::max(0, p["top_k"].get<int>());
  if (!given("seed")) out.seed = p["seed"].get<uint32_t>();
  return out;
}

std::string system_prompt(const Spec& s, const codex::Codex& codex) {
  std::string out = s.system;
  std::string ps;
  for (auto& p : codex.principles)
    if (s.principles.empty() || std::find(s.principles.begin(), s.principles.end(), p.name) != s.principles.end())
      ps += "- " + p.name + ": " + p.text + "\n";
  if (!ps.empty()) out += "\n\nThe principles you live by (the Living Codex):\n" + ps;
  return out;
}

std::optional<image::Object> adapter_for(const image::Image& img, const Spec& s, const std::string& base_sha256) {
  if (s.adapter == "none") return std::nullopt;
  if (!s.adapter.empty()) {
    auto a = img.get(image::Kind::Adapter, s.adapter);
    if (!a || a->removed) throw Error("persona " + s.name + " names adapter '" + s.adapter + "', which the image does not hold; see `a4ps image info`");
    return a;
  }
  std::optional<image::Object> best;
  for (auto& a : img.list(image::Kind::Adapter)) {
    if (a.meta.value("persona", "") != s.name) continue;
    if (!base_sha256.empty() && a.meta.value("base_sha256", "") != base_sha256) continue;
    if (!best || a.created_at > best->created_at || (a.created_at == best->created_at && a.name > best->name)) best = a;
  }
  return best;
}

}  // namespace a4ps::persona
