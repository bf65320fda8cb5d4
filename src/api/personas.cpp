// The public personas API, over src/persona's specs.
#include "a4ps/personas.h"

#include "api/internal.h"
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

int64_t propose_persona(Image& image, const std::string& toml, const std::string& reason) {
  return persona::propose_change(writable(image), toml, reason);
}

}  // namespace a4ps
