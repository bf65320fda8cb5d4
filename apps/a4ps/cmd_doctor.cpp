// a4ps doctor: which sandboxes work on this machine, and why not; with --security, the
// containment suite run live against each of them.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "cli.h"
#include "util/util.h"
#include "sandbox/containment.h"
#include "sandbox/sandbox.h"

namespace a4ps::cli {
namespace {

// case × provider → contained / escaped / n/a, as a table and as JSON.
void security(Globals& g, const std::vector<sandbox::Check>& checks, const std::string& only) {
  using sandbox::Verdict;
  std::vector<std::string> providers;
  std::map<std::string, std::map<std::string, sandbox::ContainmentResult>> cell;  // provider -> case -> result
  std::map<std::string, std::string> skipped;                                   // provider -> why not run
  nlohmann::json jp = nlohmann::json::object();
  int escaped = 0, broken = 0;
  for (auto& ch : checks) {
    std::string name = sandbox::provider_name(ch.provider);
    providers.push_back(name);
    if (ch.provider == sandbox::Provider::None) {
      skipped[name] = "not run: no isolation, the attacks would hit this machine";
    } else if (!ch.works) {
      skipped[name] = "not applicable: " + ch.detail;
    } else {
      if (!g.json) std::fprintf(stderr, "doctor: attacking %s (%zu cases)\n", name.c_str(), sandbox::containment_cases().size());
      for (auto& r : sandbox::run_containment(ch.provider, only, [&](const sandbox::ContainmentResult& r) {
             if (!g.json)
               std::fprintf(stderr, "  %-9s %-18s %s\n", sandbox::verdict_name(r.verdict), r.name.c_str(), r.detail.c_str());
           })) {
        cell[name][r.name] = r;
        escaped += r.verdict == Verdict::Escaped;
        broken += r.verdict == Verdict::Broken;
      }
    }
    nlohmann::json col = {{"works", ch.works}, {"detail", ch.detail}};
    if (skipped.count(name)) col["skipped"] = skipped[name];
    nlohmann::json cases = nlohmann::json::object();
    for (auto& [c, r] : cell[name])
      cases[c] = {{"verdict", sandbox::verdict_name(r.verdict)}, {"detail", r.detail}, {"ms", static_cast<int>(r.ms)}};
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
  for (auto& c : sandbox::containment_cases()) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    std::snprintf(line, sizeof line, "%-20s %-17s", c.name.c_str(), c.klass.c_str());
    o << line;
    for (auto& p : providers) {
      std::string v = skipped.count(p) ? "-" : cell[p].count(c.name) ? sandbox::verdict_name(cell[p][c.name].verdict) : "?";
      std::snprintf(line, sizeof line, " %-10s", v.c_str());
      o << line;
    }
    o << "\n";
  }
  o << "\n";
  for (auto& [p, why] : skipped) o << p << ": " << why << "\n";
  for (auto& [p, cases] : cell)
    for (auto& [c, r] : cases)
      if (r.verdict == Verdict::Escaped || r.verdict == Verdict::Broken)
        o << p << " " << c << ": " << sandbox::verdict_name(r.verdict) << ": " << r.detail << "\n";
  o << (escaped ? std::to_string(escaped) + " attacks got out" : "every attack was contained") << (broken ? " (" + std::to_string(broken) + " cases broken)" : "")
    << "\n";
  emit(g, {{"providers", jp}, {"escaped", escaped}, {"broken", broken}}, o.str());
  if (escaped || broken)
    throw Error(std::to_string(escaped) + " attacks got out of a sandbox and " + std::to_string(broken) +
                " cases could not run; see the table (do not run agent code in that sandbox)");
}

}  // namespace

void add_doctor_command(CLI::App& app, Globals& g) {
  auto* c = sub(&app, "doctor", "check which sandboxes work here (gVisor, bubblewrap), why not, and which one agent code would use");
  static bool sec = false;
  static std::string only;
  c->add_flag("--security", sec, "also run the containment suite (attacks agent code could try) against each sandbox");
  c->add_option("--case", only, "with --security: only the cases whose name contains this");
  c->callback([&g] {
    auto checks = sandbox::doctor();
    if (sec) return security(g, checks, only);
    nlohmann::json j = nlohmann::json::array();
    std::ostringstream o;
    std::string chosen;
    for (auto& ch : checks) {
      j.push_back({{"provider", sandbox::provider_name(ch.provider)}, {"works", ch.works}, {"detail", ch.detail}});
      o << (ch.works ? "ok    " : "no    ") << sandbox::provider_name(ch.provider) << "  " << ch.detail << "\n";
      if (ch.works && chosen.empty() && ch.provider != sandbox::Provider::None) chosen = sandbox::provider_name(ch.provider);
    }
    o << (chosen.empty() ? "no isolating sandbox works here: install runsc (gVisor) or bubblewrap\n"
                         : "agent code will run in: " + chosen + "\n");
    emit(g, {{"sandboxes", j}, {"default", chosen}}, o.str());
  });
}

}  // namespace a4ps::cli
