// The scope and end rules of a sync's change stream. Relations are remembered by OID as the
// stream describes them: pgoutput sends a relation before the first change to it in each
// session, so a change to an unknown relation means the stream is not what it should be.
#include "snapshot/change_filter.h"

#include <vector>

namespace hasync::snapshot {
namespace {
using Forward = std::optional<PgMessage>;
}  // namespace

Result<std::optional<PgMessage>> ChangeFilter::Add(PgMessage m) {
  switch (m.type) {
    case PgMessage::kRelation: {
      bool keep = TableDataInScope(options_.scope, m.relation.schema, m.relation.name);
      in_scope_[m.relation.id] = keep;
      if (keep) return Forward(std::move(m));
      return Forward();
    }
    case PgMessage::kInsert:
    case PgMessage::kUpdate:
    case PgMessage::kDelete: {
      auto it = in_scope_.find(m.rel_id);
      if (it == in_scope_.end()) {
        return Status(Code::kDatabase, "the slot sent a change before its relation");
      }
      if (!it->second) return Forward();
      ++changes_;
      txn_changed_ = true;
      return Forward(std::move(m));
    }
    case PgMessage::kTruncate: {
      std::vector<uint32_t> keep;
      for (uint32_t id : m.truncate_rels) {
        auto it = in_scope_.find(id);
        if (it != in_scope_.end() && it->second) keep.push_back(id);
      }
      if (keep.empty()) return Forward();
      m.truncate_rels = std::move(keep);
      ++changes_;
      txn_changed_ = true;
      return Forward(std::move(m));
    }
    case PgMessage::kMessage:
      if (m.prefix == kMarkerPrefix && m.content == options_.token) marker_ = true;
      if (m.prefix == kRefreshPrefix && !m.content.empty() && m.content.size() <= 10 &&
          m.content.find_first_not_of("0123456789") == std::string::npos) {
        uint64_t oid = std::stoull(m.content);
        if (oid <= UINT32_MAX) refreshed_.insert(static_cast<uint32_t>(oid));
      }
      return Forward();
    case PgMessage::kBegin:
      // Past the pinned point: what follows is not in the pinned snapshot.
      if (options_.bound != 0 && m.final_lsn >= options_.bound) end_lsn_ = options_.bound;
      return Forward();
    case PgMessage::kCommit:
      if (marker_) {
        end_lsn_ = m.end_lsn;
        return Forward();
      }
      if (!txn_changed_) return Forward();
      txn_changed_ = false;
      ++transactions_;
      return Forward(std::move(m));
    default:
      return Forward();
  }
}

}  // namespace hasync::snapshot
