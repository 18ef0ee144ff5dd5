// The Secondary's statements through libpq's pipeline mode: each is sent without waiting for its
// result, and the results are read together at a sync point, so applying N changes costs about
// one round trip per kDepth statements instead of N. Statements of kind kPrepared are prepared
// once per distinct text on this connection and run by name after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "engine/db/change_sql.h"
#include "snapshot/pg.h"

namespace hasync::engine {

// Not thread-safe; borrows the connection, which must outlive it.
class ApplyPipeline {
 public:
  static constexpr size_t kDepth = 1000;  // statements between two sync points

  explicit ApplyPipeline(snapshot::PgConn& conn) : conn_(conn) {}

  // Sends st, entering pipeline mode. Its parameters are copied: they may go when this returns.
  Status Send(const ApplyStatement& st);
  // Statements (and preparations) sent and not yet drained.
  size_t pending() const { return pending_.size(); }
  // Waits for everything sent. The first failure is the error: a statement's, or one that
  // changed fewer rows than it must (this node's database differs from the Primary's).
  Status Drain();
  // Drains and leaves pipeline mode: COPY and ordinary statements cannot run inside it.
  Status Exit();
  bool on() const;

 private:
  struct Pending {
    bool prepare = false;
    int64_t rows = -1;  // rows the statement must change (-1: any)
    std::string what;   // for the error message
  };

  Status Enter();

  snapshot::PgConn& conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::deque<Pending> pending_;
};

}  // namespace hasync::engine
