#include "governance/governance.h"

#include "image/diff.h"

namespace a4ps::governance {

Decision await_decision(graph::NodeContext& ctx, const image::Image& img, int64_t id) {
  for (;;) {
    std::optional<image::Proposal> p;
    for (auto& x : img.proposals())
      if (x.id == id) p = x;
    if (!p) throw Error("proposal " + std::to_string(id) + " disappeared from the image");
    if (p->status == "approved" || p->status == "applied") return Decision::Approved;
    if (p->status == "rejected") return Decision::Rejected;
    // Still pending: stop here. A resume that comes before the decision stops again.
    ctx.interrupt({{"proposal", id}, {"kind", p->kind}, {"target", p->target}, {"summary", describe(*p)},
                   {"question", "a human must decide: a4ps approvals approve|reject IMAGE " + std::to_string(id) +
                                    " --reason ..., then resume this thread"}});
  }
}

std::string describe(const image::Proposal& p) {
  std::string out = p.kind + " " + p.target;
  const auto& j = p.payload;
  if (j.is_object() && j.contains("after") && j["after"].is_string()) {
    std::string before = j.contains("before") && j["before"].is_string() ? j["before"].get<std::string>() : "";
    out += "\n" + image::unified_diff(before, j["after"].get<std::string>(), p.target + " (now)", p.target + " (proposed)");
  }
  return out;
}

}  // namespace a4ps::governance
