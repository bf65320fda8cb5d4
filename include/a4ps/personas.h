// The personas: data, not code (a TOML spec each). The four built-in ones ship with a4ps;
// an image's own replace or join them. A new or changed persona is a proposal that lands
// only after a human's yes (see the governance API / `a4ps approvals`).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct PersonaInfo {
  std::string name;                  // ALFRED, BRICK, ROBIN, BABS, or one the image added
  std::string role;                  // one line: what it is for
  std::vector<std::string> actions;  // route, answer, act, forge, critique, retrieve, respond
  std::string model;                 // its own model spec; "" = the run's model
  std::string colour;                // terminal colour of its name ("" = none)
  bool builtin = false;              // a shipped default, not stored in the image
  int64_t version = 0;               // the image object's version (0: built in)
  std::string toml;                  // the whole spec
};

std::vector<PersonaInfo> builtin_personas();
// The image's personas: the built-in ones, replaced or joined by the image's own.
std::vector<PersonaInfo> list_personas(const Image& image);
// One persona by name (case-insensitive); nullopt when the image has none of that name.
std::optional<PersonaInfo> find_persona(const Image& image, const std::string& name);
// The system prompt a persona's model calls carry: its character and the image's codex,
// as persona_chat (chat.h) and the deliberation send it. Throws Error for an unknown name.
std::string persona_system_prompt(const Image& image, const std::string& name);
// Files a persona.change proposal for a spec (validated first: an error names the field
// and how to fix it). Returns the proposal's id.
int64_t propose_persona(Image& image, const std::string& toml, const std::string& reason);

}  // namespace a4ps
