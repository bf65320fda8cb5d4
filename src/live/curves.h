// Competence curves as a standalone SVG: one polyline per series, y in [0, 1] (a share of
// successes), x the attempts. What `a4ps goals curves` writes and the tests keep.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace a4ps::live {

using Series = std::pair<std::string, std::vector<double>>;  // name, y per attempt

std::string curves_svg(const std::vector<Series>& series, const std::string& title,
                       const std::string& x_label = "attempts", const std::string& y_label = "competence");

// Success rate over the last `window` outcomes, after each outcome.
std::vector<double> rolling_rate(const std::vector<bool>& outcomes, size_t window = 10);

}  // namespace a4ps::live
