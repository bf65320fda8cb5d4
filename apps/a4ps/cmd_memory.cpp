// a4ps memory add|search (placeholder until the memory module lands).
#include "cli.h"

namespace a4ps::cli {
void add_memory_commands(CLI::App&, Globals&) {}
}  // namespace a4ps::cli
