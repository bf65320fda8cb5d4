// Schema migrations: each step moves PRAGMA user_version up by one, in one transaction.
#pragma once
#include <span>

struct sqlite3;

namespace a4ps::image {

struct Migration {
  int version;      // user_version after this step
  const char* sql;  // DDL (and data moves) for the step
};

std::span<const Migration> migrations();  // the real list; its last version is kSchemaVersion

// Applies every migration above the file's user_version, in order; each step commits
// on its own so a failure leaves the file at the last good version.
void migrate(sqlite3* db, std::span<const Migration> steps);

}  // namespace a4ps::image
