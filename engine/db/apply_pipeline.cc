// A failed statement aborts the pipeline: the statements after it until the sync point return
// PGRES_PIPELINE_ABORTED, which is not a failure of theirs, so only the first real one is kept.
// Every result is read before Drain returns, so the connection is always ready for the next.
#include "engine/db/apply_pipeline.h"

#include <libpq-fe.h>

namespace hasync::engine {

using snapshot::PgError;
using snapshot::PgResult;

bool ApplyPipeline::on() const { return PQpipelineStatus(conn_.raw()) == PQ_PIPELINE_ON; }

Status ApplyPipeline::Enter() {
  if (on()) return Status::Ok();
  if (PQenterPipelineMode(conn_.raw()) != 1) return PgError(conn_, "pipeline mode");
  return Status::Ok();
}

Status ApplyPipeline::Exit() {
  if (!on()) return Status::Ok();
  HASYNC_RETURN_IF_ERROR(Drain());
  if (PQexitPipelineMode(conn_.raw()) != 1) return PgError(conn_, "pipeline mode");
  return Status::Ok();
}

Status ApplyPipeline::Send(const ApplyStatement& st) {
  HASYNC_RETURN_IF_ERROR(Enter());
  const int n = static_cast<int>(st.params.size());
  if (st.kind == ApplyStatement::Kind::kParams) {
    if (PQsendQueryParams(conn_.raw(), st.sql.c_str(), n, nullptr, st.params.data(), nullptr,
                          nullptr, 0) != 1) {
      return PgError(conn_, "sending changes");
    }
    pending_.push_back({false, st.rows, st.what});
    return Status::Ok();
  }
  auto it = prepared_.find(st.sql);
  if (it == prepared_.end()) {
    std::string name = "hasync_" + std::to_string(prepared_.size());
    if (PQsendPrepare(conn_.raw(), name.c_str(), st.sql.c_str(), n, nullptr) != 1) {
      return PgError(conn_, "preparing " + st.sql);
    }
    pending_.push_back({true, -1, st.sql});
    it = prepared_.emplace(st.sql, name).first;
  }
  if (PQsendQueryPrepared(conn_.raw(), it->second.c_str(), n, st.params.data(), nullptr, nullptr,
                          0) != 1) {
    return PgError(conn_, "sending a change");
  }
  pending_.push_back({false, st.rows, st.what});
  return Status::Ok();
}

Status ApplyPipeline::Drain() {
  if (pending_.empty()) return Status::Ok();
  if (PQpipelineSync(conn_.raw()) != 1) return PgError(conn_, "pipeline sync");
  Status first;
  for (const Pending& p : pending_) {
    PgResult r(PQgetResult(conn_.raw()));
    if (r.raw() == nullptr) {
      if (first.ok()) first = PgError(conn_, "applying " + p.what);
      continue;
    }
    while (PgResult(PQgetResult(conn_.raw())).raw() != nullptr) {
    }
    auto st = PQresultStatus(r.raw());
    if (st == PGRES_PIPELINE_ABORTED) continue;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      if (first.ok()) first = PgError(conn_, "applying " + p.what, r.raw());
      continue;
    }
    if (p.rows >= 0 && r.CmdTuples() != std::to_string(p.rows) && first.ok()) {
      first = Status(Code::kDatabase,
                     "applying " + p.what + ": " + (p.rows == 1 ? "the row is" : "rows are") +
                         " not on this node (" + (r.CmdTuples().empty() ? "0" : r.CmdTuples()) +
                         " of " + std::to_string(p.rows) +
                         " matched), so its database differs from the Primary's; run "
                         "hasync sync --full-db");
    }
  }
  pending_.clear();
  PgResult sync(PQgetResult(conn_.raw()));
  if (PQresultStatus(sync.raw()) != PGRES_PIPELINE_SYNC && first.ok()) {
    first = PgError(conn_, "pipeline sync", sync.raw());
  }
  return first;
}

}  // namespace hasync::engine
