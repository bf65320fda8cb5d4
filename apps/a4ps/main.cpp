// a4ps — runs a living, self-constructing agent image. This file only wires the
// command groups together and turns every failure into one line on stderr.
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "a4ps/error.h"

namespace a4ps::cli {
std::string short_hash(const std::string& h) { return h.substr(0, 12); }
}  // namespace a4ps::cli

int main(int argc, char** argv) {
  using namespace a4ps::cli;
  CLI::App app{"a4ps " A4PS_VERSION " — a living, self-constructing agent in one image file"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "a4ps " A4PS_VERSION);
  Globals g;
  app.add_flag("--json", g.json, "machine-readable JSON output")->configurable(false);
  add_run_commands(app, g);  // what a newcomer wants first
  add_image_commands(app, g);
  add_model_commands(app, g);
  add_thread_commands(app, g);
  add_governance_commands(app, g);
  add_doctor_command(app, g);
  add_tool_commands(app, g);
  add_memory_commands(app, g);
  add_learn_commands(app, g);
  add_persona_commands(app, g);
  add_build_commands(app, g);
  add_serve_command(app, g);
  add_mcp_command(app, g);
  add_live_commands(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors: exit 2 (help/version: 0)
  } catch (const a4ps::Error& e) {
    std::cerr << "a4ps: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "a4ps: internal error: " << e.what() << " (please report this)\n";
    return 3;
  }
  return 0;
}
