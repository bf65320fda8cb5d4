// The image: one SQLite file (*.a4ps) holding everything the agent is.
//
// Versioned objects (personas, tools, codex documents, adapters), memories, threads and
// checkpoints, proposals and an append-only, hash-chained event log. Every change made
// through this API appends an event in the same transaction as the change itself.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/util.h"

struct sqlite3;

namespace a4ps {
class Env;
}

namespace a4ps::image {

using json = nlohmann::json;
namespace fs = std::filesystem;

// The disk refused the image a write or an fsync (full, or an I/O error). The change was
// rolled back; full() tells a full disk (free space, then retry) from a failing one.
class DiskError : public Error {
 public:
  DiskError(const std::string& msg, bool full) : Error(msg), full_(full) {}
  bool full() const { return full_; }

 private:
  bool full_;
};

inline constexpr int kSchemaVersion = 3;
// A read-only connection reads images from this version on: version 3 only added the
// `modules` table, whose absence image/schema.h's module_version() reads as "as before".
inline constexpr int kReadOnlyFromVersion = 2;
inline constexpr uint32_t kApplicationId = 0x41345053;  // "A4PS" in the SQLite header

enum class Kind { Persona, Tool, Codex, Adapter };
inline constexpr Kind kAllKinds[] = {Kind::Persona, Kind::Tool, Kind::Codex, Kind::Adapter};
const char* kind_name(Kind k);          // "persona", "tool", ...
Kind parse_kind(std::string_view name);  // throws Error on an unknown kind

struct Object {
  Kind kind{};
  std::string name;
  int64_t version = 0;
  std::string content;      // TOML spec, Python source, codex text, adapter description
  json meta = json::object();
  std::string blob_sha256;  // adapters: the GGUF LoRA bytes, stored once by hash
  bool removed = false;     // a removal is a version too (a tombstone)
  std::string created_at;
};

struct Event {
  int64_t seq = 0;
  std::string ts, kind, actor, payload, prev_hash, hash;
};

// What a proposal asks for, and where it stands: stored as these words, named only here.
enum class ProposalKind { ToolRegister, ToolRollback, PersonaChange, CodexAmend, AdapterActivate };
const char* proposal_kind_name(ProposalKind k);  // "tool.register", "tool.rollback", ...
std::optional<ProposalKind> parse_proposal_kind(std::string_view s);
enum class ProposalStatus { Pending, Approved, Rejected, Applied };
const char* proposal_status_name(ProposalStatus s);  // "pending", "approved", "rejected", "applied"

struct Proposal {
  int64_t id = 0;
  std::string kind, target, status, created_at, decided_at, reviewer, reason;
  json payload;
  std::optional<ProposalKind> type() const { return parse_proposal_kind(kind); }  // none: a kind this build does not know
  bool is(ProposalStatus s) const { return status == proposal_status_name(s); }
};

// How hard each commit is pushed to disk. Both survive a killed process; Full also
// survives power loss (fsync on every commit).
//
// The promise: every commit on an image's connection is pushed at Image::sync(), except
// an Image::Tx that names another mode for itself (a graph step at Normal). The connection
// is switched only when a commit needs another mode than the last one (a switch costs a
// statement prepare, a large part of a step's commit), so it may sit at Normal after such a
// step; a write made outside any Image::Tx is switched back to sync() before it runs, and
// a commit outside both (raw BEGIN/COMMIT around a write) is refused while the connection
// is at another mode than sync().
enum class Sync { Normal, Full };

struct OpenOptions {
  bool read_only = false;
  Sync sync = Sync::Full;
  Env* env = nullptr;  // files, clock and ids outside SQLite; nullptr: Env::Default()
  std::string vfs;     // SQLite VFS name ("" the default; tests: FaultVfs::kName)
};

struct CreateOptions {
  std::string name;             // defaults to the file's stem
  fs::path base_model;          // optional GGUF, stored by path + sha256
  bool overwrite = false;
  Sync sync = Sync::Full;
  Env* env = nullptr;  // as in OpenOptions; the image is opened with both afterwards
  std::string vfs;
};

struct Counts {
  int64_t personas = 0, tools = 0, codex = 0, adapters = 0, memories = 0, threads = 0,
          checkpoints = 0, proposals = 0, proposals_pending = 0, events = 0;
};

struct Info {
  std::string path, id, name, created_at, parent_id, journal_mode;
  int schema_version = 0;
  uint64_t file_bytes = 0;
  std::string base_model_path, base_model_sha256;
  int64_t head_seq = 0;
  std::string head_hash;
  Counts counts;
};

struct CheckReport {
  bool ok = true;
  std::vector<std::string> problems;  // empty when ok
  int64_t events_verified = 0, blobs_verified = 0;
};

// Sees every event before its transaction commits and may refuse it (the codex's
// runtime verification plugs in here; the image itself knows no rules).
class EventGuard {
 public:
  virtual ~EventGuard() = default;
  virtual int64_t seen() const = 0;                // seq of the last event it has stepped through
  virtual void catch_up(const Event& e) = 0;       // an already committed event (replay, other processes)
  virtual std::string check(const Event& e) = 0;   // "" allows it; otherwise why it is refused
  virtual void committed() = 0;                    // the checked events committed
  virtual void rolled_back() = 0;                  // ... or were rolled back

  // A guard that can save its state spares an open the replay of the whole log: the image
  // keeps that state, with the seq it covers, every kGuardSaveEvery events (in the event's
  // own transaction, so it never runs ahead of the log) and restores it before catching up
  // the events after it. The key names what the state is valid for (the rules, the
  // layout); "" never saves.
  virtual std::string state_key() const { return ""; }
  virtual std::string save_state() const { return ""; }  // covering every event stepped so far
  virtual bool restore_state(int64_t /*seq*/, std::string_view /*state*/) { return false; }  // false: unusable
};

// How often a guard's state is saved: the most events an open catches up.
inline constexpr int64_t kGuardSaveEvery = 1000;

// A guard's state as the image keeps it (see EventGuard::state_key).
struct GuardState {
  std::string key;
  int64_t seq = 0;
  std::string event_hash;  // of the event at seq: a state for another log is not used
  std::string state;
};

class Image {
 public:
  static Image create(const fs::path& path, const CreateOptions& opts = {});
  static Image open(const fs::path& path, const OpenOptions& opts = {});
  ~Image();
  Image(Image&&) noexcept;
  Image& operator=(Image&&) noexcept;

  const fs::path& path() const;
  Env* env() const;   // never null
  Sync sync() const;  // the connection's default commit durability
  std::string meta(std::string_view key) const;  // "" when unset
  // User settings (e.g. "model"): "" when unset; setting "" removes one. Logged.
  std::string setting(std::string_view key) const;
  std::vector<std::string> setting_keys() const;  // every setting's key, in order
  void set_setting(std::string_view key, std::string_view value);
  Info info() const;

  // Versioned objects. put() returns the new version, or the latest one unchanged when
  // content, meta and blob are identical to it.
  int64_t put(Kind kind, std::string_view name, std::string_view content,
              const json& meta = json::object(), std::string_view blob = {});
  void remove(Kind kind, std::string_view name);  // throws Error when absent
  std::optional<Object> get(Kind kind, std::string_view name, int64_t version = 0) const;
  std::vector<Object> list(Kind kind) const;  // latest live version of each name
  std::vector<Object> history(Kind kind, std::string_view name) const;
  std::string blob(std::string_view sha256) const;
  // Stores bytes by their sha256 (inert until an object version refers to them), e.g. an
  // adapter waiting for approval. Returns the sha256.
  std::string store_blob(std::string_view bytes);

  void set_base_model(const fs::path& gguf);  // hashes the file; records path + sha256
  int64_t add_memory(std::string_view text, std::string_view source, const json& meta = {});
  // Every memory chunk as (source, text), in the order they were added.
  std::vector<std::pair<std::string, std::string>> memory_texts() const;
  int64_t propose(std::string_view kind, std::string_view target, const json& payload);
  int64_t propose(ProposalKind kind, std::string_view target, const json& payload) {
    return propose(proposal_kind_name(kind), target, payload);
  }
  void decide(int64_t proposal, bool approve, std::string_view reviewer, std::string_view reason);
  std::vector<Proposal> proposals(std::string_view status = {}) const;
  // Carries out an approved proposal: logs proposal.applied, runs effect (the change
  // itself), marks it applied, all in one transaction. Refuses a proposal without an
  // approval record, whoever asks: the last line of defence behind the codex.
  void apply(int64_t proposal, const std::function<void(const Proposal&)>& effect);

  int64_t append_event(std::string_view kind, std::string_view actor, const json& payload);
  std::vector<Event> events(int64_t after_seq = 0, int64_t limit = -1) const;

  // Puts every later event through g (after replaying the log into it, from its saved
  // state when there is one). An event g refuses aborts its whole transaction with an
  // Error, and a codex.violation event records the refusal.
  void set_guard(std::shared_ptr<EventGuard> g);
  // Replays the log into g up to its head, from g's saved state when this log has one (how
  // set_guard starts a guard; also for a guard's state read without installing it).
  struct CaughtUp {
    int64_t events = 0;  // replayed after the saved state
    Event last;          // the last of them
  };
  CaughtUp catch_up(EventGuard& g) const;
  // The guard states this image keeps (for `check`, which replays the log against them).
  std::vector<GuardState> guard_states() const;

  CheckReport check() const;  // integrity_check + foreign keys + full chain + blob hashes
  void save_as(const fs::path& dest) const;  // online backup; safe while others write

  // Groups several changes into one atomic commit (nestable). The outermost one sets the
  // commit's durability: img.sync(), or the mode given; a nested one may not ask for Full
  // inside a Normal one (Error), since the mode cannot change inside a transaction.
  class Tx {
   public:
    explicit Tx(Image& img);
    Tx(Image& img, Sync sync);
    ~Tx();  // rolls back unless committed
    void commit();
   private:
    Image& img_;
    bool done_ = false;
  };

  sqlite3* db() const;  // for sibling modules (graph checkpointer); same ownership rules

 private:
  struct Impl;
  explicit Image(std::unique_ptr<Impl> impl);
  void after_rollback() noexcept;
  void save_guard_state(const EventGuard& g, const std::string& key, int64_t seq, const std::string& hash);
  std::unique_ptr<Impl> impl_;
};

// A copy of src at dest with a new identity and a recorded parent.
Image fork(const fs::path& src, const fs::path& dest, std::string_view name = {});

// The hash of one event, as the chain defines it.
std::string event_hash(const Event& e);

}  // namespace a4ps::image
