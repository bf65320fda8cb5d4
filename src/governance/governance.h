// Governance: the human's yes before every self-modification, as graph steps.
// A node proposes a change, then waits (a graph interrupt, durable across restarts)
// until a human decides with `a4ps approvals approve|reject`; an approved proposal is
// applied through the image store, which checks the approval again.
#pragma once
#include <cstdint>
#include <string>

#include "graph/graph.h"
#include "image/image.h"

namespace a4ps::governance {

using json = nlohmann::json;

enum class Decision { Approved, Rejected };

// Inside a node: interrupts the run while proposal `id` is pending; once a human has
// decided, returns the decision (the resume value itself carries no authority).
Decision await_decision(graph::NodeContext& ctx, const image::Image& img, int64_t id);

// Applies an approved proposal's change through the image store (which checks the
// approval again): tool.register / tool.rollback / persona.change / codex.amend carry the
// new text in payload "after". Returns the new version of the object.
int64_t apply(image::Image& img, int64_t id);

// Proposes replacing the image's codex with `toml` (validated first). The summary warns
// when the amendment drops a built-in rule.
int64_t propose_amendment(image::Image& img, const std::string& toml, const std::string& why);

// Proposes activating a LoRA adapter for a persona: the GGUF bytes are stored (inert)
// now, the adapter version appears only when the approved proposal is applied.
int64_t propose_adapter(image::Image& img, const std::string& name, const std::string& gguf_bytes,
                        const std::string& base_sha256, const std::string& persona, const json& metrics = json::object());

// The proposal as a human should see it: kind, target and a readable diff when the
// payload carries "before"/"after" texts.
std::string describe(const image::Proposal& p);

}  // namespace a4ps::governance
