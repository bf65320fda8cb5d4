// What the live API's two files share (live.cpp: records and goal generation; live_loop.cpp:
// the loop). Internal to the library.
#pragma once
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "a4ps/live.h"
#include "image/image.h"
#include "live/lp.h"

namespace a4ps::live_api {

using json = nlohmann::json;

std::string today();  // YYYY-MM-DD, UTC
// Records a decision of the live loop and tells o's on_decision (o may be null).
LiveDecision note(image::Image& img, const LiveOptions* o, const std::string& kind, int64_t goal,
                  const std::string& family, const std::string& reason, const json& detail = json::object());
std::map<std::string, live::FamilyStats> family_map(const image::Image& img);  // by family
// generate_goals, telling the live loop's caller of each decision (lo: null outside it).
GeneratedGoals generate(Image& image, const GenerateGoalsOptions& o, const LiveOptions* lo);

}  // namespace a4ps::live_api
