// What the public API's tests share: a scratch image, a scripted model file, and a thread
// in the shape the agent graph leaves (written through the internal checkpointer).
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "a4ps/image.h"
#include "graph/checkpoint.h"
#include "image/image.h"
#include "testutil.h"

namespace a4ps::apitest {

using nlohmann::json;
namespace fs = std::filesystem;

inline fs::path model(const std::string& name) { return fs::path(A4PS_TEST_MODELS) / name; }

// A scripted model (the fake backend) answering with these texts in turn.
inline std::string script(const fs::path& file, const std::vector<std::string>& answers) {
  std::ofstream out(file);
  for (auto& a : answers) out << json{{"text", a}}.dump() << "\n";
  return "scripted:" + file.string();
}

// A finished agent conversation: the task, ALFRED's route and BRICK's answer, each with
// the prompt it saw.
inline void add_thread(const fs::path& img, const std::string& id, const std::string& task, const std::string& brick_out) {
  image::Image im = image::Image::open(img);
  auto cp = graph::image_checkpointer(im);
  cp->set_thread(id, "running", {{"graph", "agent"}});
  graph::Checkpoint c;
  c.thread_id = id;
  c.step = 3;
  c.state = {{"task", task},
             {"answer", brick_out},
             {"transcript",
              json::array({{{"step", 1}, {"persona", "ALFRED"}, {"kind", "route"}, {"content", "BRICK"},
                            {"route", {{"next", "BRICK"}, {"brief", "answer it"}}},
                            {"prompt", json::array({{{"role", "system"}, {"content", "You are ALFRED. Route."}},
                                                    {{"role", "user"}, {"content", task}}})}},
                           {{"step", 2}, {"persona", "BRICK"}, {"kind", "act"}, {"content", brick_out},
                            {"prompt", json::array({{{"role", "system"}, {"content", "You are BRICK."}},
                                                    {{"role", "user"}, {"content", task}}})}}})}};
  c.meta = {{"source", "loop"}};
  cp->put(c);
  cp->set_thread(id, "done", json::object());
}

// The one line an Error carries, checked to be one line.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    std::string w = e.what();
    EXPECT_EQ(w.find('\n'), std::string::npos) << w;
    return w;
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

}  // namespace a4ps::apitest
