// The learning loop's tables and every SQL statement over them: judgements and the golden
// set (registered with the image as the "learn" module). The rest of the module asks here.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "image/image.h"
#include "image/schema.h"

namespace a4ps::learn::store {

const image::ModuleSchema& schema();  // "learn": its tables and migrations
void require(const image::Image& img);  // one line when the image lacks them

struct JudgementRow {
  int64_t id = 0;
  std::string thread, checkpoint, judge;
  std::string scores;  // JSON object
  double total = 0;
  std::string rationale, meta;  // meta: JSON object
  std::string created_at;
};
// Stores a judgement (inside the caller's Tx); returns its id.
int64_t add_judgement(image::Image& img, const JudgementRow& j);
std::vector<JudgementRow> judgements(const image::Image& img);  // id, thread, scores, total; oldest first
std::set<std::string> judged_threads(const image::Image& img);

// The seq of every event whose payload names this thread, in order.
std::vector<int64_t> thread_events(const image::Image& img, const std::string& thread);

// Adds one example (messages: a JSON array) unless the persona has one with this hash;
// judgement 0: none. True when it was added.
bool add_golden(image::Image& img, const std::string& persona, int64_t judgement, const std::string& messages,
                const std::string& hash, const std::string& created_at);
std::vector<std::string> golden_messages(const image::Image& img, const std::string& persona);  // oldest first
std::vector<std::pair<std::string, int64_t>> golden_counts(const image::Image& img);  // by persona

}  // namespace a4ps::learn::store
