// The OpenAI-compatible door of `a4ps serve` (/v1): the whole deliberation as the model
// "a4ps", each persona as "a4ps/NAME", and embeddings, over the same runner and models as
// the Agent Protocol routes.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

#include "a4ps/image.h"
#include "a4ps/session.h"
#include "openai_request.h"

namespace a4ps::server {

class Runner;

struct OpenAIDoor {
  Runner* runner = nullptr;                      // runs the deliberation ("a4ps")
  std::shared_ptr<ModelCache> models;            // the runs' models: one budget for both doors
  std::function<std::shared_ptr<Image>()> image;  // an image handle for one request
  std::string model;                             // --model (personas without their own)
  int max_tokens = 0;                            // --max-tokens: caps every reply (0: none)
  int max_wait_s = 3600;                         // a deliberation longer than this is a 504
};
void add_openai_routes(httplib::Server& server, OpenAIDoor door);

}  // namespace a4ps::server
