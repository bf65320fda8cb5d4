#include "runner.h"

#include <algorithm>
#include <ctime>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "a4ps/error.h"
#include "a4ps/events.h"
#include "a4ps/runs.h"
#include "a4ps/session.h"
#include "request.h"

namespace a4ps::server {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Pending: return "pending";
    case RunState::Running: return "running";
    case RunState::Success: return "success";
    case RunState::Interrupted: return "interrupted";
    case RunState::Error: return "error";
    case RunState::Cancelled: return "cancelled";
  }
  return "?";
}

RunState run_state_from_name(const std::string& n) {
  for (RunState s : {RunState::Pending, RunState::Running, RunState::Success, RunState::Interrupted, RunState::Error,
                     RunState::Cancelled})
    if (n == run_state_name(s)) return s;
  throw a4ps::Error("unknown run status '" + n + "'");
}

RunData run_from_record(const RunRecord& r) {
  RunData d;
  d.id = r.id;
  d.thread = r.thread;
  d.task = r.task;
  d.resume = r.kind == "resume";
  d.created_at = r.created_at;
  d.finished_at = r.finished_at;
  d.state = run_state_from_name(r.status);
  d.answer_json = r.output_json;
  d.error = r.error;
  return d;
}

namespace {
std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}
std::string run_prefix() {
  std::random_device rd;
  char b[16];
  std::snprintf(b, sizeof b, "%08x", rd());
  return b;
}
const std::string& prefix() {
  static const std::string p = run_prefix();  // run ids of different server starts differ
  return p;
}
}  // namespace

Runner::Runner(RunnerOptions o) : o_(std::move(o)) {
  if (o_.workers < 1) o_.workers = 1;
  records_ = std::make_unique<Image>(Image::open(o_.image, {.create_if_missing = false}));
  // Runs a previous start left unfinished (it was stopped mid-run, or killed) end here.
  settle_unfinished_runs(*records_, "the server stopped before the run ended; its steps so far are kept: resume the "
                                    "thread with {\"command\": {\"resume\": true}}");
  // Each worker opens its own handle now, so a bad image fails the start, not the first run.
  std::vector<std::shared_ptr<Image>> images;
  for (int i = 0; i < o_.workers; ++i)
    images.push_back(std::make_shared<Image>(Image::open(o_.image, {.create_if_missing = false})));
  for (auto& img : images) workers_.emplace_back([this, img] { work(*img); });
  reaper_ = std::thread([this] { reap(); });
}

Runner::~Runner() { stop(); }

std::shared_ptr<Run> Runner::submit(const std::string& thread, const std::string& task, bool resume, bool enqueue) {
  auto r = std::make_shared<Run>();
  r->thread = thread;
  r->task = task;
  r->resume = resume;
  r->created_at = now_iso();
  r->queued = Clock::now();
  std::lock_guard lk(mu_);
  if (stopping_) throw HttpError(503, "shutting_down", "the server is shutting down; retry against its next start");
  if (active_[thread] > 0 && !enqueue)
    throw Busy("thread '" + thread + "' has a run in progress; wait for it, or send \"multitask_strategy\": \"enqueue\"");
  if (static_cast<int>(queue_.size()) >= o_.max_queue)
    throw HttpError(503, "queue_full", "the run queue is full (" + std::to_string(o_.max_queue) + " runs); retry later");
  r->id = prefix() + "-" + std::to_string(next_id_++);
  try {  // durable before anyone can see it: under the lock, so no later record of it comes first
    record(*r);
  } catch (const std::exception& e) {
    throw HttpError(503, "unavailable", std::string("cannot record the run in the image: ") + e.what());
  }
  runs_[r->id] = r;
  by_thread_[thread].push_back(r->id);
  ++active_[thread];
  ++m_.runs_by_status["pending"];
  queue_.push_back(r);
  work_cv_.notify_one();
  return r;
}

std::shared_ptr<Run> Runner::find(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Run>> Runner::runs_of(const std::string& thread) const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<Run>> out;
  if (auto it = by_thread_.find(thread); it != by_thread_.end())
    for (auto& id : it->second)
      if (auto r = runs_.find(id); r != runs_.end()) out.push_back(r->second);
  return out;
}

bool Runner::idle() const {
  std::lock_guard lk(mu_);
  for (auto& [t, n] : active_)
    if (n > 0) return false;
  return true;
}

bool Runner::busy(const std::string& thread) const {
  std::lock_guard lk(mu_);
  auto it = active_.find(thread);
  return it != active_.end() && it->second > 0;
}

bool Runner::wait(const std::shared_ptr<Run>& r, Clock::time_point deadline) const {
  std::unique_lock lk(mu_);
  return done_cv_.wait_until(lk, deadline, [&] { return r->finished_state(); });
}

bool Runner::cancel(const std::shared_ptr<Run>& r) {
  std::unique_lock lk(mu_);
  if (r->finished_state()) return false;
  r->cancel = true;
  if (r->state == RunState::Pending) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (*it == r) {
        queue_.erase(it);
        break;
      }
    lk.unlock();
    finish(r, RunState::Cancelled, "", "cancelled before it started");
  }
  return true;
}

RunData Runner::snapshot(const std::shared_ptr<Run>& r) const {
  std::lock_guard lk(mu_);
  return static_cast<const RunData&>(*r);
}

uint64_t Runner::version(const std::string& thread) const {
  std::lock_guard lk(mu_);
  auto it = versions_.find(thread);
  return it == versions_.end() ? 0 : it->second;
}

void Runner::wait_change(const std::string& thread, uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  change_cv_.wait_for(lk, timeout, [&] {
    auto it = versions_.find(thread);
    return stopping_ || (it != versions_.end() && it->second != seen);
  });
}

void Runner::bump(const std::string& thread) {
  {
    std::lock_guard lk(mu_);
    ++versions_[thread];
  }
  change_cv_.notify_all();
}

void Runner::stop() {
  std::deque<std::shared_ptr<Run>> dropped;
  {
    std::lock_guard lk(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    dropped.swap(queue_);
    for (auto& [id, r] : runs_)
      if (r->state == RunState::Running && !r->cancel.exchange(true)) r->shutdown = true;
  }
  for (auto& r : dropped) finish(r, RunState::Cancelled, "", "the server shut down before the run started");
  work_cv_.notify_all();
  change_cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
  reap_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  std::map<std::string, Kept> closing;
  {
    std::lock_guard lk(mu_);
    closing.swap(kernels_);
    m_.kernels_idle = 0;
  }
  closing.clear();  // each kernel's process ends here, outside the lock
}

std::shared_ptr<SandboxKernel> Runner::take_kernel(const std::string& thread) {
  std::lock_guard lk(mu_);
  auto it = kernels_.find(thread);
  if (it == kernels_.end()) return std::make_shared<SandboxKernel>();
  auto k = std::move(it->second.kernel);
  kernels_.erase(it);
  m_.kernels_idle = static_cast<int64_t>(kernels_.size());
  ++m_.kernel_reuses;
  return k;
}

void Runner::keep_kernel(const std::string& thread, std::shared_ptr<SandboxKernel> k) {
  if (!k->started() || stopping_) return;  // nothing to keep (or closing anyway): it ends here
  std::vector<std::shared_ptr<SandboxKernel>> evicted;
  {
    std::lock_guard lk(mu_);
    kernels_[thread] = {std::move(k), Clock::now()};
    while (static_cast<int>(kernels_.size()) > std::max(o_.max_kernels, 0)) {
      auto lru = kernels_.begin();
      for (auto it = kernels_.begin(); it != kernels_.end(); ++it)
        if (it->second.used < lru->second.used) lru = it;
      evicted.push_back(std::move(lru->second.kernel));
      kernels_.erase(lru);
      ++m_.kernels_closed_evicted;
    }
    m_.kernels_idle = static_cast<int64_t>(kernels_.size());
  }
  // evicted kernels end here, outside the lock
}

void Runner::reap() {
  auto tick = std::min<std::chrono::milliseconds>(std::chrono::seconds(1), std::max(o_.kernel_idle / 4, std::chrono::milliseconds(10)));
  std::unique_lock lk(mu_);
  while (!stopping_) {
    reap_cv_.wait_for(lk, tick, [&] { return stopping_.load(); });
    std::vector<std::shared_ptr<SandboxKernel>> idle;
    auto now = Clock::now();
    for (auto it = kernels_.begin(); it != kernels_.end();)
      if (now - it->second.used >= o_.kernel_idle) {
        idle.push_back(std::move(it->second.kernel));
        it = kernels_.erase(it);
        ++m_.kernels_closed_idle;
      } else {
        ++it;
      }
    m_.kernels_idle = static_cast<int64_t>(kernels_.size());
    if (idle.empty()) continue;
    lk.unlock();
    idle.clear();  // their processes end outside the lock
    lk.lock();
  }
}

Metrics Runner::metrics() const {
  Metrics m;
  {
    std::lock_guard lk(mu_);
    m = m_;
    m.queue_depth = static_cast<int64_t>(queue_.size());
  }
  // Outside the runner's lock: these wait for a model call in progress to end.
  m.model_loads = models_->loads();
  m.models_loaded = models_->loaded();
  return m;
}

void Runner::record(const RunData& r) {
  std::lock_guard lk(records_mu_);
  save_run(*records_, {.id = r.id, .thread = r.thread, .kind = r.resume ? "resume" : "task", .task = r.task,
                       .status = run_state_name(r.state), .error = r.error, .created_at = r.created_at,
                       .finished_at = r.finished_at, .output_json = r.answer_json});
}

void Runner::finish(const std::shared_ptr<Run>& r, RunState s, std::string answer, std::string error) {
  RunData ended;
  {
    std::lock_guard lk(mu_);
    --m_.runs_by_status[run_state_name(r->state)];
    ++m_.runs_by_status[run_state_name(s)];
    if (r->state == RunState::Running) {
      --m_.running;
      running_thread_.erase(r->thread);
      m_.run_seconds_sum += std::chrono::duration<double>(Clock::now() - r->started).count();
      ++m_.runs_finished;
    }
    r->state = s;
    r->answer_json = std::move(answer);
    r->error = std::move(error);
    r->finished = Clock::now();
    r->finished_at = now_iso();
    ended = static_cast<const RunData&>(*r);
    if (--active_[r->thread] <= 0) active_.erase(r->thread);
    ++versions_[r->thread];
    finished_order_.push_back(r->id);
    while (finished_order_.size() > o_.keep_finished) {  // forget the oldest finished runs
      auto old = runs_.find(finished_order_.front());
      if (old != runs_.end()) {
        auto& ids = by_thread_[old->second->thread];
        std::erase(ids, old->first);
        if (ids.empty()) by_thread_.erase(old->second->thread);
        runs_.erase(old);
      }
      finished_order_.pop_front();
    }
  }
  try {
    record(ended);
  } catch (const std::exception&) {
    // The run itself is in the thread's checkpoints; its record stays as last written, and
    // the next start settles it.
  }
  done_cv_.notify_all();
  change_cv_.notify_all();
  work_cv_.notify_all();  // a run queued behind this one on its thread may go now
}

void Runner::work(Image& img) {
  for (;;) {
    std::shared_ptr<Run> r;
    {
      std::unique_lock lk(mu_);
      // The oldest queued run whose thread no worker has: runs of one thread keep their order.
      work_cv_.wait(lk, [&] {
        if (stopping_) return true;
        for (auto& q : queue_)
          if (!running_thread_.count(q->thread)) return true;
        return false;
      });
      if (stopping_) return;
      std::set<std::string> skipped;  // threads with an earlier queued run
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (running_thread_.count((*it)->thread) || skipped.count((*it)->thread)) {
          skipped.insert((*it)->thread);
          continue;
        }
        r = *it;
        queue_.erase(it);
        break;
      }
      if (!r) continue;
      running_thread_[r->thread] = true;
      --m_.runs_by_status["pending"];
      ++m_.runs_by_status["running"];
      ++m_.running;
      r->state = RunState::Running;
      r->started = Clock::now();
    }
    try {
      record(snapshot(r));
    } catch (const std::exception&) {
    }
    try {
      int64_t head = last_thread_event(img, r->thread);  // the run's own events come after it
      std::lock_guard lk(mu_);
      r->last_event = head;
    } catch (const std::exception&) {
    }
    RunState end = RunState::Error;
    std::string answer, error;
    auto kernel = take_kernel(r->thread);
    try {
      SessionOptions so;
      so.model = o_.model;
      so.sandbox = o_.sandbox;
      so.step_limit = o_.step_limit;
      so.models = models_;
      so.max_tokens = o_.max_tokens;
      so.cancelled = [r] { return r->cancel.load(); };
      so.kernel = kernel;
      so.on_sandbox_call = [this](double seconds, bool) {
        size_t b = 0;
        while (b < std::size(kSandboxBuckets) && seconds > kSandboxBuckets[b]) ++b;
        std::lock_guard lk(mu_);
        ++m_.sandbox_timed;
        m_.sandbox_seconds_sum += seconds;
        ++m_.sandbox_bucket[b];
      };
      so.on_turn = [this, r](const Turn& t) {
        {
          std::lock_guard lk(mu_);
          ++m_.turns;
          if (t.ran_code) ++m_.sandbox_calls, m_.sandbox_failures += t.code_ok ? 0 : 1;
        }
        bump(r->thread);  // wakes the thread's stream readers (the step lands just after)
      };
      so.on_answer_token = [this, r](std::string_view piece) {
        {
          std::lock_guard lk(mu_);
          r->live_answer.append(piece);
        }
        bump(r->thread);
      };
      Session s(img, so);
      Answer a = r->resume ? s.resume(r->thread) : s.ask(r->thread, r->task);
      end = a.status == RunStatus::Done ? RunState::Success : RunState::Interrupted;
      answer = a.json;
      json j = json::parse(a.json, nullptr, false);
      if (j.is_object() && j["transcript"].is_array()) {
        int64_t tokens = 0;
        for (auto& t : j["transcript"]) tokens += t.value("tokens", int64_t{0});
        std::lock_guard lk(mu_);
        m_.tokens += tokens;
      }
    } catch (const std::exception& e) {
      end = r->shutdown ? RunState::Interrupted : r->cancel ? RunState::Cancelled : RunState::Error;
      error = r->shutdown ? "the server stopped before the run ended; its steps so far are kept: resume the thread with "
                            "{\"command\": {\"resume\": true}}"
                          : e.what();
    }
    keep_kernel(r->thread, std::move(kernel));
    finish(r, end, std::move(answer), std::move(error));
  }
}

}  // namespace a4ps::server
