// Threads: graph runs kept in an image, one checkpoint per step. List and search them,
// read a thread's state at any step, edit it (a new checkpoint), fork it, and run or
// resume the built-in graphs by name (what `a4ps thread` does). Agent conversations
// (graph "agent") are threads too; ask them through a Session (session.h).
//
// JSON travels as std::string holding JSON text, so this header needs no JSON library.
//
//   a4ps::Image img = a4ps::Image::open("agent.a4ps");
//   a4ps::ThreadRun r = a4ps::run_thread(img, R"({"topic": "owls"})", {.graph = "review"});
//   if (r.status == "interrupted") r = a4ps::resume_thread(img, r.thread, "\"yes\"");
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "a4ps/image.h"

namespace a4ps {

// One thread in a listing.
struct ThreadSummary {
  std::string id;
  std::string graph;   // the graph it runs: act, agent, count, propose-tool, review
  std::string status;  // idle, running, interrupted (waits for a human), done, error
  std::string created_at, updated_at;  // ISO 8601, UTC
  int64_t checkpoints = 0;
  int64_t tasks = 0;   // agent conversations: tasks asked so far; other graphs: 0
  std::string title;   // agent conversations: the first task; other graphs: ""
};

struct ThreadFilter {
  std::string status;  // "" any; else one of the statuses above
  std::string graph;   // "" any
  std::string text;    // "" any; else a case-insensitive substring of id, graph or title
  int limit = -1;      // at most this many (-1: all)
  int offset = 0;      // skip this many first (after filtering)
};

// Threads of the image, most recently updated first, filtered.
// Throws Error for an unknown status or a negative offset.
std::vector<ThreadSummary> list_threads(const Image& image, const ThreadFilter& filter = {});

// One step of a thread.
struct CheckpointInfo {
  std::string thread, id, parent_id;  // parent "" for the first
  int64_t step = 0;
  std::string source;             // input, loop, update or fork
  std::string node;               // the node(s) whose writes made it, comma-separated ("" for a fork)
  std::vector<std::string> next;  // nodes to run from here; empty: the run was over
  std::string writes_json;        // {"node": update, ...}
  std::string created_at;
  std::string state_json;         // the whole state after this step
};

struct ThreadDetail {
  ThreadSummary summary;
  std::string meta_json = "{}";     // the thread's meta: graph, interrupts, last error
  bool has_checkpoint = false;      // false only for a thread that never stepped
  CheckpointInfo latest;            // the newest checkpoint (when has_checkpoint)
  std::vector<int64_t> waiting_for;  // proposals it waits on (interrupted threads)
  std::string interrupts_json = "[]";  // what it waits for: [{node, payload}]
  std::string error;                // the last run's error, "" when none
};

// Throws Error (one line, naming `a4ps thread ls`) when there is no such thread.
ThreadDetail get_thread(const Image& image, const std::string& thread);
// Every checkpoint, newest first.
std::vector<CheckpointInfo> thread_history(const Image& image, const std::string& thread);
// One checkpoint ("" the newest); throws Error when the thread or checkpoint is absent.
CheckpointInfo thread_checkpoint(const Image& image, const std::string& thread, const std::string& checkpoint = "");

struct EditOptions {
  std::string from;     // checkpoint to edit ("" the newest); an older one makes a branch
  std::string as_node;  // apply as if this node wrote it (its edges choose what runs next)
};
// Changes a thread's state through its graph's reducers; returns the new checkpoint's id.
// values_json must be a JSON object. Nothing changes when it throws.
std::string edit_thread(Image& image, const std::string& thread, const std::string& values_json,
                        const EditOptions& options = {});

struct ForkResult {
  std::string thread, checkpoint;  // the new thread and its first checkpoint
};
// Starts thread `to` ("" a new random id) from a checkpoint of `thread` ("" its newest).
ForkResult fork_thread(Image& image, const std::string& thread, const std::string& checkpoint = "",
                       const std::string& to = "");

// A step as it finishes (for progress output).
struct ThreadStep {
  int64_t step = 0;
  std::string node;
  std::string update_json;  // what the node wrote
};

struct ThreadRunOptions {
  std::string graph = "review";  // run_thread only: one of graph_names()
  std::string thread;            // run_thread only: the new thread's id ("" a new random one)
  std::string from;              // resume_thread only: go on from this checkpoint, not the newest
  int step_limit = 100;          // steps before the run stops with an Error (checkpoints kept)
  bool full_durability = false;  // fsync every step (survives power loss), not only crashes
  std::function<void(const ThreadStep&)> on_step;
};

struct ThreadRun {
  std::string thread;
  std::string status;      // done or interrupted
  std::string checkpoint;  // where it stands
  int64_t steps = 0;       // steps run by this call
  std::string state_json;
  std::string interrupts_json = "[]";  // [{node, payload}] when interrupted
  std::vector<int64_t> waiting_for;    // proposals it waits on
};

// Starts a new thread of a built-in graph with input_json (a JSON object). Throws Error
// for an unknown graph, a thread id that exists, or input that is not a JSON object.
ThreadRun run_thread(Image& image, const std::string& input_json, const ThreadRunOptions& options = {});
// Continues a thread: answers what it waits for with value (JSON text; text that is not
// JSON is taken as a string; "" or "null" gives no answer), or goes on from options.from.
// A forked or edited thread that reaches a question again is answered with value at once.
// Throws Error for a done thread without options.from.
ThreadRun resume_thread(Image& image, const std::string& thread, const std::string& value = "",
                        const ThreadRunOptions& options = {});

// The built-in graphs, sorted: act, agent, count, propose-tool, review.
std::vector<std::string> graph_names();

// An agent conversation as Markdown (each task, each turn, the sandbox's output; with
// prompts, the exact prompt every persona saw), or as JSON (a list of turns). Throws Error
// when the thread does not exist or is not an agent conversation.
std::string thread_transcript(const Image& image, const std::string& thread, bool prompts = false);
std::string thread_transcript_json(const Image& image, const std::string& thread, bool prompts = false);

}  // namespace a4ps
