// The public run records (a4ps/runs.h) over the runs module's store.
#include "a4ps/runs.h"

#include <algorithm>
#include <iterator>

#include "api/internal.h"
#include "runs/store.h"
#include "util/util.h"

namespace a4ps {

namespace {

RunRecord public_run(runs::store::RunRow r) {
  return {std::move(r.id), std::move(r.thread), std::move(r.kind), std::move(r.task), std::move(r.status),
          std::move(r.error), std::move(r.created_at), std::move(r.finished_at), std::move(r.output)};
}

}  // namespace

void save_run(Image& image, const RunRecord& r) {
  if (r.id.empty() || r.thread.empty()) throw Error("a run record needs an id and a thread");
  if (r.kind != "task" && r.kind != "resume") throw Error("a run's kind is task or resume, not '" + r.kind + "'");
  static const char* const kStatuses[] = {"pending", "running", "success", "interrupted", "error", "cancelled"};
  if (std::find(std::begin(kStatuses), std::end(kStatuses), r.status) == std::end(kStatuses))
    throw Error("a run's status is pending, running, success, interrupted, error or cancelled, not '" + r.status + "'");
  runs::store::put(writable(image), {r.id, r.thread, r.kind, r.task, r.status, r.error, r.created_at, r.finished_at,
                                     r.output_json});
}

std::optional<RunRecord> find_run(const Image& image, const std::string& id) {
  auto r = runs::store::get(image.impl().img, id);
  if (!r) return std::nullopt;
  return public_run(std::move(*r));
}

std::vector<RunRecord> thread_runs(const Image& image, const std::string& thread, int limit) {
  if (limit < 1 || limit > 10000) throw Error("ask for 1 to 10000 runs at a time; got " + std::to_string(limit));
  std::vector<RunRecord> out;
  for (auto& r : runs::store::of_thread(image.impl().img, thread, limit)) out.push_back(public_run(std::move(r)));
  return out;
}

int settle_unfinished_runs(Image& image, const std::string& why) {
  return runs::store::settle(writable(image), "interrupted", "cancelled", why, now_utc());
}

}  // namespace a4ps
