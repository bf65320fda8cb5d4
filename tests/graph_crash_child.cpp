// Runs the loop graph on thread "t" of an image, continuing whatever a killed
// predecessor left, and prints the final state. The graph crash test kills it.
#include <cstdio>
#include <cstdlib>

#include "graph_fixtures.h"
#include "image/image.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: graph_crash_child IMAGE UNTIL DELAY_US\n");
    return 2;
  }
  using namespace a4ps;
  image::Image img = image::Image::open(argv[1]);
  auto cp = graph::image_checkpointer(img);
  auto g = test::loop_graph(std::atoll(argv[2]), std::atoi(argv[3])).compile({.checkpointer = cp.get(), .name = "loop"});
  graph::RunConfig cfg{.thread_id = "t", .step_limit = 1000000};
  auto r = cp->get("t") ? g.invoke(nullptr, cfg) : g.invoke(graph::json::object(), cfg);
  std::printf("done %s\n", r.state.dump().c_str());
  return 0;
}
