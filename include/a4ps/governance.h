// Governance: every self-modification (a tool, a tool rollback, a persona change, a codex
// amendment, an adapter) is a proposal a human approves or rejects before it lands; and
// the Living Codex, the rules the image checks at every event before it commits.
//
// Contract: deciding and applying go through the image's codex like every write, and the
// image refuses to apply a proposal that has no approval record, whoever asks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

struct ProposalInfo {
  int64_t id = 0;
  std::string kind;    // tool.register, tool.rollback, persona.change, codex.amend, adapter.activate
  std::string target;  // the tool's, persona's or adapter's name; "codex"
  std::string status;  // pending, approved, rejected, applied
  std::string created_at, decided_at, reviewer, reason;  // "" until decided
  std::string payload_json = "{}";
};

// Proposals with `status` ("" every one; else pending, approved, rejected or applied), in
// the order they were made. Throws Error for an unknown status.
std::vector<ProposalInfo> list_proposals(const Image& image, const std::string& status = "pending");

// A proposal with everything a reviewer needs.
struct ProposalDetail {
  ProposalInfo info;
  std::string summary;  // kind, target, warnings, why, and a unified diff where there is one
  // tool.register / tool.rollback / persona.change / codex.amend: the texts
  std::string before;   // the current version ("" for a new object)
  std::string after;    // the proposed one
  std::string diff;     // unified diff before -> after ("" when equal)
  std::string why;      // codex.amend: the stated reason
  // tools written by the forge (which proposes a tool only once its tests pass)
  std::string tests;              // the tests it ran in the sandbox ("" none recorded)
  bool tests_passed = false;      // true when the forge recorded tests and they passed
  int64_t forge_attempts = 0;     // attempts the forge needed (0: not from the forge)
  // Pending and approved proposals: the codex rules applying it would break now, as
  // "rule: message" (a dry run over the image's log; nothing is written). Empty: none.
  std::vector<std::string> codex_problems;
  // codex.amend
  std::vector<std::string> drops_builtin_rules;
  // adapter.activate
  std::string persona, base_sha256, blob_sha256;
  std::string metrics_json = "{}";  // the evaluation that backs it
};
// Throws Error (one line, naming `a4ps approvals ls`) when there is no such proposal.
ProposalDetail show_proposal(const Image& image, int64_t id);

// Says yes or no. reviewer "" means the OS user ("human:$USER"); reason is required (the
// audit log keeps it). Throws Error when the proposal is not pending. Returns the reviewer.
std::string decide_proposal(Image& image, int64_t id, bool approve, const std::string& reason,
                            const std::string& reviewer = "");

// Carries out an approved proposal; returns the object's new version. Throws Error when it
// is not approved (the image checks the approval record itself).
int64_t apply_proposal(Image& image, int64_t id);

// --- the codex ---
struct CodexRule {
  std::string name, check, message;
  bool builtin = false;  // removable only through an approved amendment
};
struct CodexPrinciple {
  std::string name, text;
};
struct CodexInfo {
  std::string toml;  // the document, as `a4ps codex amend` takes it
  std::vector<CodexPrinciple> principles;
  std::vector<CodexRule> rules;
};

CodexInfo default_codex();
CodexInfo image_codex(const Image& image);  // its own codex document, else the default
// Parses and type-checks a codex; throws Error naming origin, the rule and the position.
CodexInfo check_codex(const std::string& toml, const std::string& origin = "codex");
// check_codex of a file's text; throws Error when it cannot be read.
CodexInfo check_codex_file(const std::string& path);

// What the codex refused in the image, oldest first.
struct CodexViolation {
  int64_t seq = 0;  // the codex.violation event
  std::string ts;
  std::string event, actor, why;  // the refused event's kind, who tried it, which rule and why
  std::string refused_json = "{}";
};
std::vector<CodexViolation> codex_violations(const Image& image);

// Proposes replacing the image's codex with toml (checked first); returns the proposal's id.
// The proposal's summary warns when the amendment drops a built-in rule.
int64_t propose_codex_amendment(Image& image, const std::string& toml, const std::string& reason);

}  // namespace a4ps
