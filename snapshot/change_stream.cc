// The replication protocol's copy-both loop: each CopyData is an XLogData (a pgoutput message)
// or a primary keepalive. A keepalive is answered at once, whether or not it asks for a reply:
// a walsender that hears nothing for wal_sender_timeout drops the connection.
#include "snapshot/change_stream.h"

#include <libpq-fe.h>

#include <memory>
#include <span>

namespace hasync::snapshot {

Result<ChangeStream> ChangeStream::Start(const ChangeStreamOptions& options) {
  HASYNC_ASSIGN_OR_RETURN(PgConn repl, PgConn::Connect(options.conninfo, {.replication = true}));
  std::string cmd = "START_REPLICATION SLOT " + repl.QuoteIdent(options.slot) + " LOGICAL " +
                    FormatLsn(options.start) + " (proto_version '1', publication_names '\"" +
                    options.publication + "\"', messages 'true')";
  HASYNC_RETURN_IF_ERROR(repl.Run(cmd));
  return ChangeStream(std::move(repl), options.slot);
}

Result<std::optional<PgMessage>> ChangeStream::Next() {
  for (;;) {
    char* raw = nullptr;
    int n = PQgetCopyData(repl_.raw(), &raw, 0);
    if (n == -2) return PgError(repl_, "reading replication slot " + slot_);
    if (n == -1) return std::optional<PgMessage>();
    std::unique_ptr<char, void (*)(void*)> hold(raw, PQfreemem);
    HASYNC_ASSIGN_OR_RETURN(WalMessage w,
                            DecodeWalMessage(std::as_bytes(std::span<const char>(raw, n))));
    if (w.kind == WalMessage::kKeepalive) {
      HASYNC_RETURN_IF_ERROR(AnswerKeepalive());
      continue;
    }
    // The decoded message owns its values: `raw` may go.
    HASYNC_ASSIGN_OR_RETURN(PgMessage m, DecodePgOutput(w.payload));
    return std::optional<PgMessage>(std::move(m));
  }
}

Status ChangeStream::AnswerKeepalive() {
  std::string reply = EncodeStatusUpdate(0, 0, 0, false);
  if (PQputCopyData(repl_.raw(), reply.data(), static_cast<int>(reply.size())) != 1 ||
      PQflush(repl_.raw()) != 0) {
    return PgError(repl_, "answering the replication stream");
  }
  return Status::Ok();
}

void ChangeStream::End() {
  if (PQputCopyEnd(repl_.raw(), nullptr) != 1) return;
  (void)PQflush(repl_.raw());
  // Bounded: a server that keeps sending is not waited for.
  for (int i = 0; i < 1000; ++i) {
    char* raw = nullptr;
    int n = PQgetCopyData(repl_.raw(), &raw, 0);
    if (raw != nullptr) PQfreemem(raw);
    if (n < 0) break;
  }
  for (int i = 0; i < 10; ++i) {
    PgResult r(PQgetResult(repl_.raw()));
    if (r.raw() == nullptr) break;
  }
}

}  // namespace hasync::snapshot
