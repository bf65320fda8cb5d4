// The built-in graphs a thread runs by name (`a4ps thread run`, the public threads API).
// A thread records its graph's name, so a later process (resume, fork, edit) rebuilds
// the same graph.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"
#include "image/image.h"

namespace a4ps::persona {

// The graph named `name` working on `img`; throws Error for an unknown name.
graph::StateGraph builtin_graph(const std::string& name, image::Image& img);
std::vector<std::string> builtin_graph_names();

}  // namespace a4ps::persona
