// Graphs the CLI can run by name. A thread records its graph's name, so a later
// process (resume, fork, edit) rebuilds the same graph.
#pragma once
#include <string>
#include <vector>

#include "graph/graph.h"

namespace a4ps::cli {

graph::StateGraph builtin_graph(const std::string& name);  // throws Error for an unknown name
std::vector<std::string> builtin_graph_names();

}  // namespace a4ps::cli
