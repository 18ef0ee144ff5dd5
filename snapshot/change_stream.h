// A logical slot's changes through PostgreSQL's replication protocol: START_REPLICATION with
// pgoutput (protocol 1, one publication, logical messages on), each XLogData decoded, keepalives
// answered. The reply never reports a position: the slot moves only when the Secondary has
// committed, by an explicit advance (PgSource::AdvanceSlot), never because it was read.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "snapshot/pg.h"
#include "snapshot/pgoutput.h"

namespace hasync::snapshot {

struct ChangeStreamOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;
  Lsn start = 0;  // stream from here (the Secondary's position)
};

// Owns its replication connection; not thread-safe. Destroying it closes the connection, which
// ends the stream abruptly; End() ends it politely first.
class ChangeStream {
 public:
  // Connects (a replication connection) and starts streaming.
  static Result<ChangeStream> Start(const ChangeStreamOptions& options);

  ChangeStream(ChangeStream&&) noexcept = default;
  ChangeStream& operator=(ChangeStream&&) noexcept = default;

  // The next pgoutput message, waiting for it; nullopt when the server ended the stream.
  Result<std::optional<PgMessage>> Next();
  // Ends the stream (CopyDone, then whatever the server still sends is read and dropped). Best
  // effort: the connection closes either way.
  void End();

 private:
  ChangeStream(PgConn repl, std::string slot) : repl_(std::move(repl)), slot_(std::move(slot)) {}
  // A standby status update that reports no position.
  Status AnswerKeepalive();

  PgConn repl_;
  std::string slot_;
};

}  // namespace hasync::snapshot
