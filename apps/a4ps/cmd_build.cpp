// a4ps build [-f Imagefile] (-o IMAGE | -t NAME) [--no-cache]   and   a4ps build prune
// Thin: parse the options, call build_image, print one line per step.
#include <cstdio>

#include "a4ps/build.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {

void add_build_commands(CLI::App& app, Globals& g) {
  static BuildOptions o;
  static std::string file = "Imagefile", out, sandbox;
  static bool line_open = false;  // a step's line is printed, its time not yet
  auto* b = sub(&app, "build", "build an image from an Imagefile (a superset of Ollama's Modelfile), layer by layer, cached");
  b->require_subcommand(0, 1);
  b->add_option("-f,--file", file, "the recipe")->capture_default_str();
  b->add_option("-o,--output", out, "write the image here");
  b->add_option("-t,--tag", o.tag, "name the image in the build cache (usable as FROM NAME)");
  b->add_flag("--no-cache", o.no_cache, "run every step again (the cache is refreshed)");
  b->add_option("--sandbox", sandbox, "where TOOL tests run: gvisor or bwrap (default: the strongest that works)");
  b->add_option("--threads", o.threads, "CPU threads for FINETUNE (default: all cores)");
  auto* prune = sub(b, "prune", "remove cached layers that no tag reaches");
  prune->callback([&g] {
    auto r = prune_build_cache();
    emit(g, {{"removed", r.removed}, {"kept", r.kept}, {"bytes_freed", r.bytes_freed}},
         "removed " + std::to_string(r.removed) + " layers (" + format_bytes(r.bytes_freed) + " freed), kept " +
             std::to_string(r.kept) + " that tags reach\n");
  });
  b->callback([&g, prune] {
    if (prune->parsed()) return;
    if (out.empty() && o.tag.empty()) throw CLI::RequiredError("-o IMAGE or -t NAME");
    o.imagefile = file;
    o.output = out;
    o.sandbox = sandbox;
    if (!g.json) {
      // The step's name first, so a long step (FINETUNE) shows what it is doing.
      o.on_start = [](const BuildStep& s) {
        std::cout << "step " << s.index << "/" << s.total << " " << s.text << std::flush;
        line_open = true;
      };
      o.on_step = [](const BuildStep& s) {
        line_open = false;
        char secs[32];
        std::snprintf(secs, sizeof secs, "%.2f s", s.seconds);
        std::cout << " (" << (s.cached ? "cached" : secs) << ")" << std::endl;
      };
    }
    BuildResult r;
    try {
      r = build_image(o);
    } catch (const BuildError& e) {
      if (line_open) std::cout << std::endl;  // end the step line it interrupted
      // Located like a compiler's message (FILE:LINE:COL: error: ...), so editors can jump to it.
      std::cerr << e.what() << std::endl;
      std::exit(1);
    }
    nlohmann::json steps = nlohmann::json::array();
    for (auto& s : r.steps)
      steps.push_back({{"index", s.index}, {"instruction", s.text}, {"layer", s.layer}, {"cached", s.cached}, {"seconds", s.seconds}});
    std::string where = out.empty() ? "tag " + o.tag : out + (o.tag.empty() ? "" : " (tag " + o.tag + ")");
    nlohmann::json approvals = nlohmann::json::array();
    std::string approved;
    for (auto& a : r.approvals) {
      approvals.push_back({{"proposal", a.proposal}, {"kind", a.kind}, {"target", a.target}, {"reviewer", a.reviewer}, {"reason", a.reason}});
      approved += "  #" + std::to_string(a.proposal) + " " + a.kind + " " + a.target + ": approved by " + a.reviewer + " (" + a.reason + ")\n";
    }
    emit(g, {{"layer", r.layer}, {"imagefile_sha256", r.imagefile_sha256}, {"output", out}, {"tag", o.tag}, {"cached", r.cached},
             {"steps", steps}, {"approvals", approvals}},
         (approved.empty() ? "" : "self-modifications, each a proposal in the image's audit log:\n" + approved) + "built " + where +
             ": layer " + short_hash(r.layer) + ", " + std::to_string(r.cached) + " of " + std::to_string(r.steps.size()) +
             " steps cached\n");
  });
}

}  // namespace a4ps::cli
