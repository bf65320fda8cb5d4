// a4ps doctor: which sandboxes work on this machine, and why not; with --security, the
// containment suite run live against each of them.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "a4ps/gpu.h"
#include "a4ps/sandbox.h"
#include "a4ps/text.h"
#include "cli.h"

namespace a4ps::cli {
namespace {

// case × provider → contained / escaped / n/a, as a table and as JSON.
void security(Globals& g, const std::string& only) {
  SecurityOptions so{.only = only};
  if (!g.json) {
    so.on_provider = [](const std::string& p, size_t n) { std::fprintf(stderr, "doctor: attacking %s (%zu cases)\n", p.c_str(), n); };
    so.on_result = [](const std::string&, const ContainmentOutcome& r) {
      std::fprintf(stderr, "  %-9s %-18s %s\n", r.verdict.c_str(), r.name.c_str(), r.detail.c_str());
    };
  }
  SecurityReport rep = run_security_suite(so);
  std::vector<std::string> providers;
  std::map<std::string, std::map<std::string, ContainmentOutcome>> cell;  // provider -> case -> result
  std::map<std::string, std::string> skipped;                            // provider -> why not run
  nlohmann::json jp = nlohmann::json::object();
  for (auto& ps : rep.providers) {
    const std::string& name = ps.check.provider;
    providers.push_back(name);
    if (!ps.skipped.empty()) skipped[name] = ps.skipped;
    for (auto& r : ps.results) cell[name][r.name] = r;
    nlohmann::json col = {{"works", ps.check.works}, {"detail", ps.check.detail}};
    if (!ps.skipped.empty()) col["skipped"] = ps.skipped;
    nlohmann::json cases = nlohmann::json::object();
    for (auto& [c, r] : cell[name]) cases[c] = {{"verdict", r.verdict}, {"detail", r.detail}, {"ms", static_cast<int>(r.ms)}};
    col["cases"] = cases;
    jp[name] = col;
  }
  std::ostringstream o;
  o << "containment, as " << (geteuid() == 0 ? "root (the sandbox runs as nobody)" : "uid " + std::to_string(geteuid()))
    << ":\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-20s %-17s", "case", "class");
  o << line;
  for (auto& p : providers) std::snprintf(line, sizeof line, " %-10s", p.c_str()), o << line;
  o << "\n";
  for (auto& c : containment_case_list()) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    std::snprintf(line, sizeof line, "%-20s %-17s", c.name.c_str(), c.klass.c_str());
    o << line;
    for (auto& p : providers) {
      std::string v = skipped.count(p) ? "-" : cell[p].count(c.name) ? cell[p][c.name].verdict : "?";
      std::snprintf(line, sizeof line, " %-10s", v.c_str());
      o << line;
    }
    o << "\n";
  }
  o << "\n";
  for (auto& [p, why] : skipped) o << p << ": " << why << "\n";
  for (auto& [p, cases] : cell)
    for (auto& [c, r] : cases)
      if (r.verdict == "escaped" || r.verdict == "broken") o << p << " " << c << ": " << r.verdict << ": " << r.detail << "\n";
  o << (rep.escaped ? std::to_string(rep.escaped) + " attacks got out" : "every attack was contained")
    << (rep.broken ? " (" + std::to_string(rep.broken) + " cases broken)" : "") << "\n";
  emit(g, {{"providers", jp}, {"escaped", rep.escaped}, {"broken", rep.broken}}, o.str());
  if (!rep.contained())
    throw Error(std::to_string(rep.escaped) + " attacks got out of a sandbox and " + std::to_string(rep.broken) +
                " cases could not run; see the table (do not run agent code in that sandbox)");
}

// The compute devices ggml sees, and (with --model) how that model would be split.
nlohmann::json gpus(std::ostringstream& o, const std::string& model) {
  GpuReport r = gpu_report();
  std::string backends;
  for (auto& b : r.backends) backends += (backends.empty() ? "" : ", ") + b;
  o << "\ncompute devices (llama.cpp built with: " << backends << "):\n";
  nlohmann::json jd = nlohmann::json::array();
  char line[512];
  for (auto& d : r.devices) {
    std::snprintf(line, sizeof line, "  %-10s %-5s %s", d.name.c_str(), d.type.c_str(), d.description.c_str());
    o << line;
    if (d.total_bytes) o << "  (" << format_bytes(d.free_bytes) << " free of " << format_bytes(d.total_bytes) << ")";
    o << "\n";
    jd.push_back({{"name", d.name}, {"type", d.type}, {"description", d.description}, {"free_bytes", d.free_bytes},
                  {"total_bytes", d.total_bytes}});
  }
  o << r.advice << "\n";
  nlohmann::json j = {{"backends", r.backends}, {"devices", jd}, {"offload_device", r.offload_device},
                      {"vram_budget", r.vram_budget}, {"advice", r.advice}};
  if (!model.empty()) {
    OffloadEstimate e = plan_model_offload(model);
    o << model << ": " << e.summary << "\n";
    j["model"] = {{"path", model}, {"gpu_layers", e.gpu_layers}, {"layers", e.layers}, {"output_on_gpu", e.output_on_gpu},
                  {"gpu_bytes", e.gpu_bytes}, {"cpu_bytes", e.cpu_bytes}, {"summary", e.summary}};
  }
  return j;
}

}  // namespace

void add_doctor_command(CLI::App& app, Globals& g) {
  auto* c = sub(&app, "doctor", "check which sandboxes work here (gVisor, bubblewrap), why not, and which one agent code would use");
  static bool sec = false;
  static std::string only, model;
  c->add_option("--model", model, "also show how this GGUF would be split between GPU and CPU (VRAM budget)");
  c->add_flag("--security", sec, "also run the containment suite (attacks agent code could try) against each sandbox");
  c->add_option("--case", only, "with --security: only the cases whose name contains this");
  c->callback([&g] {
    if (sec) return security(g, only);
    auto rep = check_sandboxes();
    nlohmann::json j = nlohmann::json::array();
    std::ostringstream o;
    for (auto& ch : rep.checks) {
      j.push_back({{"provider", ch.provider}, {"works", ch.works}, {"detail", ch.detail}});
      o << (ch.works ? "ok    " : "no    ") << ch.provider << "  " << ch.detail << "\n";
    }
    o << (rep.chosen.empty() ? "no isolating sandbox works here: install runsc (gVisor) or bubblewrap\n"
                             : "agent code will run in: " + rep.chosen + "\n");
    nlohmann::json compute = gpus(o, model);
    emit(g, {{"sandboxes", j}, {"default", rep.chosen}, {"compute", compute}}, o.str());
  });
}

}  // namespace a4ps::cli
