// Shared pieces of the a4ps command line.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iostream>
#include <string>

namespace a4ps::cli {

struct Globals {
  bool json = false;
};

// Commands print either their JSON or their text form, never both.
inline void emit(const Globals& g, const nlohmann::json& j, const std::string& text) {
  if (g.json) std::cout << j.dump(2) << "\n";
  else std::cout << text;
}

std::string short_hash(const std::string& h);  // first 12 characters

// A subcommand that also accepts its parents' options (e.g. --json) after its name.
inline CLI::App* sub(CLI::App* parent, const char* name, const char* help) {
  auto* s = parent->add_subcommand(name, help);
  s->fallthrough();
  return s;
}

void add_image_commands(CLI::App& app, Globals& g);
void add_model_commands(CLI::App& app, Globals& g);
void add_thread_commands(CLI::App& app, Globals& g);
void add_governance_commands(CLI::App& app, Globals& g);
void add_doctor_command(CLI::App& app, Globals& g);
void add_tool_commands(CLI::App& app, Globals& g);
void add_memory_commands(CLI::App& app, Globals& g);
void add_learn_commands(CLI::App& app, Globals& g);
void add_run_commands(CLI::App& app, Globals& g);      // run, chat
void add_persona_commands(CLI::App& app, Globals& g);  // persona, thread transcript (after thread)
void add_build_commands(CLI::App& app, Globals& g);    // build, build prune
void add_serve_command(CLI::App& app, Globals& g);     // serve (server/)
void add_mcp_command(CLI::App& app, Globals& g);       // mcp: the tools over MCP on stdio (server/)
void add_live_commands(CLI::App& app, Globals& g);     // live, goals (live mode)

// A download progress bar on stderr (every 10% when stderr is not a terminal).
std::function<void(uint64_t done, uint64_t total)> pull_progress();

}  // namespace a4ps::cli
