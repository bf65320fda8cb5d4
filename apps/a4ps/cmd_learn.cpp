// a4ps learn ... (placeholder until the learning module lands).
#include "cli.h"

namespace a4ps::cli {
void add_learn_commands(CLI::App&, Globals&) {}
}  // namespace a4ps::cli
