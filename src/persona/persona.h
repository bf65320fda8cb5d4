// Personas are data: a TOML spec each (name, role, system prompt, model, adapter,
// sampling, allowed actions, codex principles to include). The four defaults ship with
// a4ps; an image's own persona objects override them or add new ones. Changing one is a
// persona.change proposal that lands only after a human's yes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "image/image.h"
#include "llm/backend.h"

namespace a4ps::codex {
struct Codex;
}

namespace a4ps::persona {

// What a persona may be asked to do in the main graph.
inline constexpr const char* kActions[] = {"route", "answer", "act", "forge", "critique", "retrieve", "respond"};

struct Spec {
  std::string name;    // upper-case by convention: ALFRED, BRICK, ...
  std::string role;    // one line: what it is for
  std::string system;  // its system prompt: character and manner
  std::string model;   // model spec; "" = the run's model
  std::string adapter; // adapter name in the image; "" = the newest approved for this persona; "none"
  llm::Sampling sampling;
  std::vector<std::string> sampling_given;  // the [sampling] keys the spec sets itself
  int max_tokens = 384;
  std::vector<std::string> actions;     // from kActions
  std::vector<std::string> principles;  // codex principles in its prompt; empty = all of them
  std::string colour;                   // terminal colour of its name: red green yellow blue magenta cyan
  bool builtin = false;                 // one of the shipped defaults, not stored in the image
  int64_t version = 0;                  // the image object's version (0: built in)

  bool can(std::string_view action) const;
};

// Parses and validates a persona spec; errors say which field is wrong and how to fix it.
Spec parse_spec(std::string_view toml, std::string_view origin = "persona");
std::string to_toml(const Spec& s);

std::vector<Spec> builtin_specs();  // ALFRED, BRICK, ROBIN, BABS
// The personas of an image: the defaults, replaced or joined by the image's own.
std::vector<Spec> load_all(const image::Image& img);
std::optional<Spec> find(const image::Image& img, std::string_view name);  // case-insensitive

// Files a persona.change proposal for this spec (validated first). Returns its id.
int64_t propose_change(image::Image& img, const std::string& toml, const std::string& why);

// The sampling of a persona's turn: what its spec sets, and for the rest the image's
// defaults (an Imagefile's PARAMETER lines: temperature, top_p, top_k, seed), given as the
// image's "parameters" setting (JSON; "" or anything else is ignored).
llm::Sampling sampling_for(const Spec& s, const std::string& image_parameters);

// The persona's system prompt with the codex principles it lives by.
std::string system_prompt(const Spec& s, const codex::Codex& codex);

// The adapter the persona runs with, as the image holds it: its explicit adapter, else the
// newest approved adapter whose meta names this persona (and, when known, the base model's
// sha256). Empty when there is none.
std::optional<image::Object> adapter_for(const image::Image& img, const Spec& s, const std::string& base_sha256 = "");

}  // namespace a4ps::persona
