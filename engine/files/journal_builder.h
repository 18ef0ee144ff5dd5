// Building the commit journal of a sync from its plan and what the transfer produced: each
// action becomes the journal operation that puts it in place (a rename from staging, the redo
// log's writes and a re-stamp for an in-place file, a link, a removal, a mkdir, metadata).
// Pure: it decides, it touches no file, so it is unit-tested on its own.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/files/journal.h"
#include "engine/files/plan.h"
#include "engine/files/receiver.h"
#include "engine/files/staging.h"

namespace hasync::engine {

struct JournalInputs {
  uint64_t sync_id = 0;
  bool db_commit = false;  // the database's commit is the commit point (journal flag)
  bool set_owner = false;  // running as root: ownership is replicated
  const std::vector<std::string>* roots = nullptr;  // absolute root paths, settings' order
  const StagingArea* staging = nullptr;
  const std::vector<Action>* actions = nullptr;
  const std::vector<std::unique_ptr<FileJob>>* jobs = nullptr;
  const std::map<const Action*, std::string>* symlink_staged = nullptr;
};

struct JournalCounts {
  uint64_t files_changed = 0;
  uint64_t files_deleted = 0;
  uint64_t dirs_created = 0;
  uint64_t meta_changed = 0;
};

struct BuiltJournal {
  Journal journal;
  JournalCounts counts;
};

// REQUIRES: every pointer in `in` set; every kFile action has its job.
BuiltJournal BuildJournal(const JournalInputs& in);

}  // namespace hasync::engine
