// The Tool Forge and CodeAct: the agent acts by writing Python, and builds the tools it
// lacks. A tool is written by the model, checked with Python's ast (python/a4ps_forge.py),
// tested in the sandbox, fixed from its errors, and only proposed: a human's approval
// registers it (see governance).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "llm/backend.h"
#include "sandbox/sandbox.h"

namespace a4ps::forge {

using json = nlohmann::json;

// The code of a model's answer: its first ```python block, else the whole text.
std::string extract_code(const std::string& model_output);

struct ToolSpec {
  std::string name;
  std::vector<std::string> params;
  std::string doc;    // what the function does
  std::string tests;  // Python statements (asserts) that call it
};

struct Attempt {
  std::string source;
  std::vector<std::string> problems;  // what the ast check refused
  std::string error;                  // or how the tests failed (with traceback)
  bool passed = false;
};

struct ForgeResult {
  bool ok = false;
  std::string source;
  std::vector<Attempt> attempts;
  int64_t proposal = 0;  // the tool.register proposal filed on success
};

// Static checks of a tool's source, run inside the sandbox.
std::vector<std::string> check_source(sandbox::Kernel& k, const ToolSpec& spec, const std::string& source);

// Writes, checks and tests a tool, feeding failures back to the model, at most
// max_attempts times; on success files a tool.register proposal in img.
ForgeResult forge(const ToolSpec& spec, llm::Backend& model, sandbox::Kernel& k, image::Image& img, int max_attempts = 4,
                  const std::function<void(const Attempt&)>& on_attempt = {});

// Source transformations the agent can ask for, done with ast inside the sandbox:
//   promote  {snippet, name, params}  a working snippet becomes a function
//   document {source, doc, hints}     docstring and type hints (hints: param|"return" -> type)
//   rename   {source, old, new}       the function and its recursive calls
std::string transform(sandbox::Kernel& k, const std::string& op, const json& args);

// Makes the image's registered tools importable in the kernel (`from a4ps_tools import x`)
// and callable by name in the agent's namespace. Returns how many were loaded.
int load_tools(sandbox::Kernel& k, const image::Image& img);

// A kernel for agent code on `img`: `make` when given, else the named provider (or the
// strongest that works here); the image's workspace (IMAGE.work), its tools importable and
// the read-only reflection served.
std::unique_ptr<sandbox::Kernel> image_kernel(const image::Image& img, const std::string& provider,
                                              sandbox::Limits limits = {}, const sandbox::KernelFactory& make = {});

// The read-only reflection agent code gets through a4ps_reflect: list_tools(),
// tool_source(name), codex(), search_memory(query, limit). Nothing in it writes.
void serve_reflection(sandbox::Kernel& k, const image::Image& img);

// doesNotUnderstand: when agent code failed with a NameError for an undefined callable,
// the spec for forging it, from the failing code's call site (empty name otherwise).
ToolSpec spec_from_name_error(sandbox::Kernel& k, const std::string& code, const sandbox::Result& failure);

}  // namespace a4ps::forge
