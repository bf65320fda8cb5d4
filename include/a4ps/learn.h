// The learning loop's first step: ALFRED judges a conversation (task success,
// correctness, grace, justice, codex adherence; 1–5 each) and the judgement is kept in
// the image, where the golden set is chosen from. Training an adapter from it and
// proposing it are `a4ps learn train|activate` (and, later, this header).
#pragma once
#include <string>

#include "a4ps/image.h"

namespace a4ps {

struct Judgement {
  int task_success = 0, correctness = 0, grace = 0, justice = 0, codex_adherence = 0;
  int total() const { return task_success + correctness + grace + justice + codex_adherence; }
  std::string rationale;
};

struct JudgeOptions {
  std::string model;  // the judge's model spec (as SessionOptions::model; "" = the same defaults)
};
Judgement judge(Image& image, const std::string& thread, const JudgeOptions& options = {});

}  // namespace a4ps
