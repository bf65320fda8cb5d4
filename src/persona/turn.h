// One renderer for a transcript turn, in the three shapes people and models read it:
// a line of a prompt (ALFRED's story of a task, the judge's view of a thread), a block of
// a Markdown transcript, and the one-line summary an embedding program prints.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "persona/state.h"

namespace a4ps::persona {

enum class TurnFormat {
  PromptLine,  // "- PERSONA (kind): content\n", the content clipped to max_content
  Markdown,    // "**PERSONA** (kind) ...", the sandbox's output, with prompts the exact prompt
  Summary,     // "PERSONA: content" and a line each for the sandbox, the forge and memory
};

struct RenderOptions {
  TurnFormat format = TurnFormat::Summary;
  size_t max_content = 400;  // PromptLine: characters of content kept
  bool prompts = false;      // Markdown: show the exact prompt the persona saw
};

std::string render_turn(const Turn& t, const RenderOptions& o);

// A turn as a prompt line (PromptLine).
inline std::string turn_line(const Turn& t, size_t max_content) {
  return render_turn(t, {.format = TurnFormat::PromptLine, .max_content = max_content});
}
inline std::string turn_line(const nlohmann::json& turn, size_t max_content) {
  return turn_line(turn_from_json(turn), max_content);
}

// A transcript (the state's "transcript") without each turn's exact prompt, for listings.
inline nlohmann::json without_prompts(nlohmann::json transcript) {
  for (auto& t : transcript) t.erase("prompt");
  return transcript;
}

// A whole conversation (the agent graph's state) as Markdown: each task, each turn, the
// sandbox's output, and with `prompts` the exact prompt every persona saw.
std::string transcript_markdown(const nlohmann::json& state, const std::string& thread, bool prompts = false);

}  // namespace a4ps::persona
