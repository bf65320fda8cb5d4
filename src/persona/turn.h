// One transcript turn (the agent graph's JSON) as a line of a prompt, written in one
// place: ALFRED's story of a task and the judge's view of a thread both use it.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "util/util.h"

namespace a4ps::persona {

// "- PERSONA (kind): content", the content clipped at a character boundary.
inline std::string turn_line(const nlohmann::json& turn, size_t max_content) {
  return "- " + turn.value("persona", std::string("?")) + " (" + turn.value("kind", std::string("?")) + "): " +
         utf8_clip(turn.value("content", std::string()), max_content) + "\n";
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
