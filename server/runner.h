// Runs: the agent's work, queued and done by a pool of workers.
//
// Why a pool of workers, each with its own Image handle: an a4ps::Image is used from one
// thread at a time, but the image file is SQLite in WAL mode, so several handles on it can
// read at once and take turns to write (each write is one short transaction; the event
// log's hash chain is extended inside it). A run holds its worker for as long as it takes,
// so runs on different threads go on side by side, and a slow model call on one thread
// does not stop another thread's steps. One lock around one handle would serialise every
// run behind the slowest. Each run gets a fresh Session; the sessions share one
// ModelCache, so an embedded model is loaded once, within one memory budget, and the
// runs' model calls take turns in arrival order.
//
// A sandbox kernel per active thread: a thread's kernel (its Python process) is kept between
// its runs, so an action pays no kernel start and the conversation's Python globals carry
// over, while no state leaks from one thread into another. Kept kernels are bounded: one
// idle longer than kernel_idle is closed, and beyond max_kernels the least recently used
// goes first (each is a process with its own memory).
//
// Every run is recorded in the image (a4ps/runs.h) when it is queued, taken up and ended,
// so GET answers about it after a restart; a run cut off by a stop or a crash is recorded
// as interrupted (its thread resumes from its newest step).
//
// One run at a time per thread: a second run on a busy thread is refused (Busy) unless it
// asks to wait, in which case it queues behind the first, in order.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "a4ps/image.h"
#include "a4ps/runs.h"
#include "a4ps/session.h"

namespace a4ps::server {

using Clock = std::chrono::steady_clock;

// Agent Protocol words for a run's status, plus cancelled.
enum class RunState { Pending, Running, Success, Interrupted, Error, Cancelled };
const char* run_state_name(RunState s);
RunState run_state_from_name(const std::string& name);  // Error for an unknown one

// What a run is and where it stands (a copy of it is what handlers present).
struct RunData {
  std::string id, thread;
  std::string task;     // "" for a resume
  bool resume = false;
  std::string created_at, finished_at;
  RunState state = RunState::Pending;
  std::string answer_json;  // the Answer's JSON once it ended as success or interrupted
  std::string error;        // why it failed or was cancelled
  int64_t last_event = 0;   // the thread's newest event id when the run was taken up
  std::string live_answer;  // the final answer's words generated so far (not durable)
  std::chrono::steady_clock::time_point queued, started, finished;
  bool finished_state() const { return state != RunState::Pending && state != RunState::Running; }
};

// The runner's own record: fields change under its mutex; cancel is read by the run.
struct Run : RunData {
  std::atomic<bool> cancel{false};
  std::atomic<bool> shutdown{false};  // stopped by the server's stop, not by a client: resumable
};

// A run as its durable record in the image shows it (after a restart, or once forgotten).
RunData run_from_record(const RunRecord& r);

struct RunnerOptions {
  std::string image;
  std::string model;    // as SessionOptions::model
  std::string sandbox;  // as SessionOptions::sandbox
  int workers = 4;
  int max_queue = 1000;  // runs waiting at once; beyond it a 503
  int step_limit = 200;
  int max_tokens = 0;
  size_t keep_finished = 10000;  // finished runs remembered for GET (oldest forgotten first)
  int max_kernels = 16;                             // idle threads' kernels kept at once
  std::chrono::milliseconds kernel_idle{std::chrono::minutes(10)};  // a kernel idle this long is closed
};

// Upper bounds (seconds) of the sandbox call latency histogram's buckets (+Inf implied).
inline constexpr double kSandboxBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

struct Busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Metrics {
  std::map<std::string, int64_t> runs_by_status;  // every run since start, by its state now
  int64_t queue_depth = 0, running = 0, tokens = 0, turns = 0;
  int64_t sandbox_calls = 0, sandbox_failures = 0;  // BRICK's code runs
  double run_seconds_sum = 0;  // finished runs' wall time, summed
  int64_t runs_finished = 0;
  int64_t model_loads = 0, models_loaded = 0;  // embedded models, shared by every run
  // Every sandbox call timed (as the library reports them): count, sum and per-bucket
  // counts (not cumulative; the presenter accumulates).
  int64_t sandbox_timed = 0;
  double sandbox_seconds_sum = 0;
  int64_t sandbox_bucket[std::size(kSandboxBuckets) + 1] = {};
  int64_t kernels_idle = 0;    // threads' kernels kept between runs now
  int64_t kernel_reuses = 0;   // runs that found their thread's kernel kept
  int64_t kernels_closed_idle = 0, kernels_closed_evicted = 0;
};

class Runner {
 public:
  explicit Runner(RunnerOptions o);
  ~Runner();  // stop() then join

  // Queues a run. Throws Busy when the thread has a run and !enqueue, HttpError(503)
  // when the queue is full or the runner stops.
  std::shared_ptr<Run> submit(const std::string& thread, const std::string& task, bool resume, bool enqueue);
  std::shared_ptr<Run> find(const std::string& run_id) const;
  std::vector<std::shared_ptr<Run>> runs_of(const std::string& thread) const;  // oldest first
  bool busy(const std::string& thread) const;
  bool idle() const;  // no run pending or running on any thread (live mode may work)
  // Waits until the run ended or the deadline passed; true when it ended.
  bool wait(const std::shared_ptr<Run>& r, std::chrono::steady_clock::time_point deadline) const;
  // A pending run is dropped at once; a running one stops before its next step.
  // Returns false when the run had already ended.
  bool cancel(const std::shared_ptr<Run>& r);
  // Copies a run's fields under the lock (a consistent view for presenting it).
  RunData snapshot(const std::shared_ptr<Run>& r) const;

  // Something happened on `thread` (a step, a run's end): wakes whoever waits on it.
  uint64_t version(const std::string& thread) const;
  void wait_change(const std::string& thread, uint64_t seen, std::chrono::milliseconds timeout) const;

  // SIGTERM: take no new runs, drop the queued ones, stop the running ones before their
  // next step (every step so far is checkpointed: the threads resume), join the workers.
  void stop();
  bool stopping() const { return stopping_; }
  Metrics metrics() const;
  // The runs' models, for other callers that must share their memory budget (the /v1 door).
  std::shared_ptr<ModelCache> models() const { return models_; }

 private:
  void work(Image& img);
  void finish(const std::shared_ptr<Run>& r, RunState s, std::string answer, std::string error);
  void bump(const std::string& thread);
  std::shared_ptr<SandboxKernel> take_kernel(const std::string& thread);
  void keep_kernel(const std::string& thread, std::shared_ptr<SandboxKernel> k);
  void reap();
  void record(const RunData& r);  // into the image; throws when it cannot be written

  RunnerOptions o_;
  mutable std::mutex mu_;
  mutable std::condition_variable work_cv_, done_cv_, change_cv_;
  std::deque<std::shared_ptr<Run>> queue_;
  std::map<std::string, std::shared_ptr<Run>> runs_;        // by id
  std::deque<std::string> finished_order_;                  // for forgetting the oldest
  std::map<std::string, std::vector<std::string>> by_thread_;  // run ids, oldest first
  std::map<std::string, int> active_;                       // thread -> runs pending or running
  std::map<std::string, bool> running_thread_;              // thread -> a worker has it
  std::map<std::string, uint64_t> versions_;
  Metrics m_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_id_{1};
  std::shared_ptr<ModelCache> models_ = std::make_shared<ModelCache>();  // one budget for all runs
  std::vector<std::thread> workers_;
  struct Kept {
    std::shared_ptr<SandboxKernel> kernel;
    Clock::time_point used;
  };
  std::map<std::string, Kept> kernels_;  // idle threads' kernels (a run takes its own out meanwhile)
  std::condition_variable reap_cv_;
  std::thread reaper_;
  std::mutex records_mu_;
  std::unique_ptr<Image> records_;  // its own handle: run records are written from any thread
};

}  // namespace a4ps::server
