// The public personas API, over src/persona's specs.
#include "a4ps/personas.h"

#include "api/internal.h"
#include "codex/codex.h"
#include "persona/persona.h"

namespace a4ps {
namespace {

PersonaInfo info_of(const persona::Spec& s) {
  return {s.name, s.role, s.actions, s.model, s.colour, s.builtin, s.version, persona::to_toml(s)};
}

std::vector<PersonaInfo> infos(const std::vector<persona::Spec>& specs) {
  std::vector<PersonaInfo> out;
  for (auto& s : specs) out.push_back(info_of(s));
  return out;
}

}  // namespace

std::vector<PersonaInfo> builtin_personas() { return infos(persona::builtin_specs()); }

std::vector<PersonaInfo> list_personas(const Image& image) { return infos(persona::load_all(image.impl().img)); }

std::optional<PersonaInfo> find_persona(const Image& image, const std::string& name) {
  auto s = persona::find(image.impl().img, name);
  if (!s) return std::nullopt;
  return info_of(*s);
}

std::string persona_system_prompt(const Image& image, const std::string& name) {
  const auto& img = image.impl().img;
  auto s = persona::find(img, name);
  if (!s) throw Error("no persona '" + name + "' in " + image.path() + "; see `a4ps persona ls`");
  return persona::system_prompt(*s, codex::image_codex(img));
}

int64_t propose_persona(Image& image, const std::string& toml, const std::string& reason) {
  return persona::propose_change(writable(image), toml, reason);
}

}  // namespace a4ps
