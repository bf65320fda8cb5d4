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

enum class Decision { Approved, Rejected };

// Inside a node: interrupts the run while proposal `id` is pending; once a human has
// decided, returns the decision (the resume value itself carries no authority).
Decision await_decision(graph::NodeContext& ctx, const image::Image& img, int64_t id);

// The proposal as a human should see it: kind, target and a readable diff when the
// payload carries "before"/"after" texts.
std::string describe(const image::Proposal& p);

}  // namespace a4ps::governance
