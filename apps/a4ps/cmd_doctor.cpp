// a4ps doctor: which sandboxes work on this machine, and why not.
#include <sstream>

#include "cli.h"
#include "sandbox/sandbox.h"

namespace a4ps::cli {

void add_doctor_command(CLI::App& app, Globals& g) {
  auto* c = sub(&app, "doctor", "check which sandboxes work here (gVisor, bubblewrap) and which one agent code would use");
  c->callback([&g] {
    nlohmann::json j = nlohmann::json::array();
    std::ostringstream o;
    std::string chosen;
    for (auto& ch : sandbox::doctor()) {
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
