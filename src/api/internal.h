// The library's side of the public API's handles (include/a4ps/*.h): what an Image and a
// Session hold. Internal: programs see only the public headers.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "a4ps/image.h"
#include "a4ps/session.h"
#include "graph/checkpoint.h"
#include "graph/graph.h"
#include "image/image.h"
#include "persona/state.h"
#include "sandbox/sandbox.h"

namespace a4ps::llm {
class ModelManager;
}

namespace a4ps {

// The model manager a ModelCache shares (its Impl stays in session.cpp).
llm::ModelManager& manager_of(const ModelCache& cache);

struct Image::Impl {
  std::string path;
  image::Image img;
  bool read_only = false;
};

struct SandboxKernel::Impl {
  // Shared with the agent runtime of each session given it (persona::AgentOptions::kept_kernel).
  std::shared_ptr<std::unique_ptr<sandbox::Kernel>> slot = std::make_shared<std::unique_ptr<sandbox::Kernel>>();
};

struct Session::Impl {
  Image* image = nullptr;
  SessionOptions opts;
  std::unique_ptr<graph::Checkpointer> cp;
  std::unique_ptr<graph::CompiledGraph> graph;
  std::string model;
};

// The internal image info as the public one.
ImageInfo info_of(const image::Info& i);

// One transcript entry (the agent graph's JSON, or its typed form) as a public Turn.
Turn turn_from_json(const nlohmann::json& t);
Turn public_turn(const persona::Turn& t);

// The image for a call that writes: an Error (one line) when it was opened read-only.
inline image::Image& writable(Image& image) {
  if (image.impl().read_only) throw Error("the image " + image.path() + " was opened read-only");
  return image.impl().img;
}

}  // namespace a4ps
