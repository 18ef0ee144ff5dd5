// Each record is applied as it completes; batches are built and sent in the order the batcher
// returns them, so what runs is what the Primary did, in its order. Statements queue in the
// pipeline and are drained every ApplyPipeline::kDepth and at the end of each frame, so an
// error is reported close to the change that caused it.
#include "engine/db/change_applier.h"

#include <map>
#include <optional>
#include <string>

#include "engine/db/change_sql.h"
#include "engine/db/copy_in.h"
#include "engine/db/scope_check.h"

namespace hasync::engine {

using snapshot::PgMessage;
using snapshot::PgResult;

Status ChangeApplier::Begin() { return conn_.Run("SET LOCAL session_replication_role = replica"); }

Status ChangeApplier::Apply(std::span<const std::byte> payload) {
  reader_.Append(payload);
  for (;;) {
    HASYNC_ASSIGN_OR_RETURN(auto m, reader_.Next());
    if (!m) break;
    HASYNC_RETURN_IF_ERROR(ApplyRecord(std::move(*m)));
    if (pipeline_.pending() >= ApplyPipeline::kDepth) HASYNC_RETURN_IF_ERROR(pipeline_.Drain());
  }
  return pipeline_.Drain();
}

Status ChangeApplier::Finish() {
  HASYNC_RETURN_IF_ERROR(Run(batcher_.Flush()));
  return pipeline_.Exit();
}

Status ChangeApplier::ApplyRecord(PgMessage m) {
  switch (m.type) {
    case PgMessage::kRelation:
      return Describe(m.relation);
    case PgMessage::kCommit:
      ++transactions_;
      return Status::Ok();
    case PgMessage::kTruncate:
      return Truncate(m);
    case PgMessage::kInsert:
    case PgMessage::kUpdate:
    case PgMessage::kDelete: {
      ++changes_;
      HASYNC_ASSIGN_OR_RETURN(auto batches, batcher_.Add(std::move(m)));
      return Run(batches);
    }
    default:
      return Status(Code::kProtocol, "unexpected record in the database changes");
  }
}

Status ChangeApplier::Describe(const snapshot::PgRelation& rel) {
  HASYNC_RETURN_IF_ERROR(CheckInScope(scope_, rel.schema, rel.name));
  // The pending run was made under the relation's old description.
  HASYNC_RETURN_IF_ERROR(Run(batcher_.Flush()));
  ApplyRelation r{.qname = conn_.QuoteIdent(rel.schema) + "." + conn_.QuoteIdent(rel.name),
                  .display = rel.schema + "." + rel.name,
                  .cols = {},
                  .key = {},
                  .types = {},
                  .replident = rel.replident};
  for (const auto& c : rel.columns) {
    r.cols.push_back(conn_.QuoteIdent(c.name));
    r.key.push_back(c.key);
  }
  HASYNC_ASSIGN_OR_RETURN(r.types, ColumnTypes(r, rel));
  batcher_.Describe(rel.id, std::move(r));
  return Status::Ok();
}

Status ChangeApplier::Truncate(const PgMessage& m) {
  std::vector<std::string> qnames;
  for (uint32_t id : m.truncate_rels) {
    HASYNC_ASSIGN_OR_RETURN(const ApplyRelation* r, batcher_.Find(id));
    qnames.push_back(r->qname);
  }
  std::string sql = TruncateSql(qnames, m.truncate_options);
  ++changes_;
  HASYNC_RETURN_IF_ERROR(Run(batcher_.Flush()));
  return pipeline_.Send({.kind = ApplyStatement::Kind::kPrepared, .sql = sql, .what = sql});
}

Status ChangeApplier::Run(const std::vector<ChangeBatch>& batches) {
  for (const ChangeBatch& b : batches) HASYNC_RETURN_IF_ERROR(Run(b));
  return Status::Ok();
}

Status ChangeApplier::Run(const ChangeBatch& b) {
  HASYNC_ASSIGN_OR_RETURN(const ApplyRelation* r, batcher_.Find(b.rel));
  std::optional<ApplyStatement> st;
  switch (b.kind) {
    case ChangeBatch::Kind::kCopy:
      return CopyRun(*r, b);
    case ChangeBatch::Kind::kRow: {
      HASYNC_ASSIGN_OR_RETURN(st, RowStatement(*r, b.changes.front()));
      break;
    }
    case ChangeBatch::Kind::kValues:
      st = ValuesStatement(*r, b);
      break;
  }
  if (!st) return Status::Ok();  // it changes nothing
  return pipeline_.Send(*st);
}

// COPY cannot run inside a pipeline: it is left first. Text format, sent in pieces of 1 MiB.
Status ChangeApplier::CopyRun(const ApplyRelation& r, const ChangeBatch& b) {
  HASYNC_RETURN_IF_ERROR(pipeline_.Exit());
  HASYNC_RETURN_IF_ERROR(conn_.Run(CopyInSql(r)));
  const std::string what = "inserting into " + r.display;
  std::string buf;
  for (const PgMessage& m : b.changes) {
    buf += CopyTextRow(m.new_tuple);
    if (buf.size() >= (1u << 20)) {
      HASYNC_RETURN_IF_ERROR(PutCopyData(conn_, buf, what));
      buf.clear();
    }
  }
  if (!buf.empty()) HASYNC_RETURN_IF_ERROR(PutCopyData(conn_, buf, what));
  const size_t n = b.changes.size();
  HASYNC_ASSIGN_OR_RETURN(uint64_t rows,
                          EndCopyIn(conn_, std::to_string(n) + " inserts into " + r.display));
  if (rows != n) {
    return Status(Code::kDatabase, "inserting into " + r.display + ": " + std::to_string(rows) +
                                       " of " + std::to_string(n) + " rows went in");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ChangeApplier::ColumnTypes(const ApplyRelation& r,
                                                            const snapshot::PgRelation& rel) {
  HASYNC_RETURN_IF_ERROR(pipeline_.Exit());
  HASYNC_ASSIGN_OR_RETURN(PgResult t,
                          conn_.ExecParams("SELECT a.attname, pg_catalog.format_type(a.atttypid, "
                                           "a.atttypmod) FROM pg_catalog.pg_attribute a WHERE "
                                           "a.attrelid = $1::regclass AND a.attnum > 0 AND NOT "
                                           "a.attisdropped",
                                           {r.qname}));
  std::map<std::string, std::string> by_name;
  for (int i = 0; i < t.rows(); ++i) by_name[t.Get(i, 0)] = t.Get(i, 1);
  std::vector<std::string> types;
  for (const auto& c : rel.columns) {
    auto it = by_name.find(c.name);
    if (it == by_name.end()) {
      return Status(Code::kSchema, "column " + c.name + " of " + r.display +
                                       " is on the Primary but not on this node; run hasync "
                                       "sync --full-db");
    }
    types.push_back(it->second);
  }
  return types;
}

}  // namespace hasync::engine
