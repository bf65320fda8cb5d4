// Schema migrations: each step moves a version up by one, in one transaction.
//
// The core's tables (objects, events, threads, ...) are versioned by PRAGMA user_version.
// A module's own tables (memory's search index, learn's judgements) are the module's:
// its store registers a ModuleSchema once, and every image opened read-write afterwards
// creates and migrates them, recording the module's version in the `modules` table —
// the way a LangGraph checkpointer's setup() makes its tables.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace a4ps::image {

class Image;

struct Migration {
  int version;      // the version after this step
  const char* sql;  // DDL (and data moves) for the step
};

std::span<const Migration> migrations();  // the core's list; its last version is kSchemaVersion

// Applies every migration above the file's user_version, in order; each step commits
// on its own so a failure leaves the file at the last good version.
void migrate(sqlite3* db, std::span<const Migration> steps);

struct ModuleSchema {
  std::string name;                    // "memory", "learn", ...
  std::vector<Migration> steps;        // versions 1, 2, ... in order
  // Images made before modules owned their tables kept them in the core schema: when
  // this table is there and the module has no recorded version, it is at adopted_version.
  std::string adopted_table;
  int adopted_version = 0;
  // A query `image check` runs on an image at the module's latest version: each row (one
  // text column) is a problem found in the module's tables. Null: nothing to check.
  const char* check = nullptr;

  int latest() const { return steps.empty() ? 0 : steps.back().version; }
};

// Registers a module's tables with every image opened afterwards (call it from a static
// initialiser in the module's store; returns true for that). A second registration of
// the same name replaces the first.
bool register_module(ModuleSchema m);
std::vector<ModuleSchema> registered_modules();

// The module's version in this image (0: its tables are not there).
int module_version(sqlite3* db, const ModuleSchema& m);

// Brings every registered module up to its latest step, each step in its own transaction
// together with the version it records.
void migrate_modules(sqlite3* db);

// Throws one line when img (opened read-only, or by a program without the module) lacks
// the module's newest tables: what to do is to open it read-write once.
void require_module(const Image& img, const ModuleSchema& m);

}  // namespace a4ps::image
