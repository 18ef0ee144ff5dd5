// How the Secondary groups the Primary's row changes into statements, decided without PostgreSQL
// so the rules are tested on their own. Consecutive changes of one kind to one table form a run,
// applied as one statement: inserts through COPY, updates (key unchanged, the same columns set)
// and deletes joined with a VALUES list. A run never holds two changes of one row, so the run
// means what its changes in order mean. A change that can join no run is applied alone.
// change_sql.h turns each batch into SQL; change_applier.h runs them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "snapshot/pgoutput.h"

namespace hasync::engine {

// One of the Primary's relations as this node addresses it, in the Primary's column order.
struct ApplyRelation {
  std::string qname;               // quoted: "public"."devices"
  std::string display;             // for messages: public.devices
  std::vector<std::string> cols;   // quoted
  std::vector<bool> key;           // part of the replica identity
  std::vector<std::string> types;  // this node's column types, for VALUES lists
  char replident = 'd';            // 'f': REPLICA IDENTITY FULL (no key: rows match by value)
};

// Changes applied together, in stream order.
struct ChangeBatch {
  enum class Kind : uint8_t {
    kRow,     // one change, alone
    kCopy,    // a run of inserts (at least ChangeBatcher::kCopyMinRows): one COPY
    kValues,  // a run of updates or of deletes: one statement joined with a VALUES list
  };
  Kind kind = Kind::kRow;
  uint32_t rel = 0;
  snapshot::PgMessage::Type type = snapshot::PgMessage::kInsert;  // of every change
  std::vector<bool> set;  // kValues of updates: the columns every change sets
  std::vector<snapshot::PgMessage> changes;
};

// Not thread-safe. Feed it the inserts, updates and deletes in stream order; run each batch it
// returns, in order, before the next call's.
class ChangeBatcher {
 public:
  static constexpr size_t kBatchRows = 500;    // changes per run
  static constexpr size_t kCopyMinRows = 16;   // a shorter run of inserts goes row by row
  static constexpr size_t kMaxParams = 65535;  // PostgreSQL's limit per statement

  // Describes (or describes again) relation id.
  // REQUIRES: no run pending (Flush() since the last Add()): a run is planned with the
  // description its changes were made under.
  void Describe(uint32_t id, ApplyRelation rel) { rels_[id] = std::move(rel); }
  // kProtocol for a relation the stream has not described.
  Result<const ApplyRelation*> Find(uint32_t id) const;

  // An insert, update or delete: the batches it completes (the run it cannot join; itself,
  // when it can join no run). kProtocol for an undescribed relation.
  Result<std::vector<ChangeBatch>> Add(snapshot::PgMessage m);
  // The pending run as batches (none when there is none): before anything else is applied.
  std::vector<ChangeBatch> Flush();

 private:
  struct Run {
    snapshot::PgMessage::Type type = snapshot::PgMessage::kInsert;
    uint32_t rel = 0;
    std::vector<bool> set;
    std::vector<snapshot::PgMessage> changes;
    std::unordered_set<std::string> keys;  // of the rows in the run (updates and deletes)
  };

  Run run_;
  std::map<uint32_t, ApplyRelation> rels_;
};

}  // namespace hasync::engine
