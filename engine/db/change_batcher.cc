// A change joins the pending run when it has the same kind, table and set columns, the run has
// room (kBatchRows, and kMaxParams over the table's width), and its row is not in the run yet.
// Only changes whose key is known and plain can join: a NULL or unchanged key value, a changed
// key or REPLICA IDENTITY FULL would make a VALUES join match other rows than the change means.
#include "engine/db/change_batcher.h"

#include <algorithm>
#include <optional>

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgValue;

// The key of a change as one string ("" for an insert: inserts need no key to join), or
// nullopt when it cannot join a run.
std::optional<std::string> BatchKey(const ApplyRelation& r, const PgMessage& m) {
  if (r.replident == 'f') return std::nullopt;
  if (m.type == PgMessage::kInsert) return std::string();
  if (m.type == PgMessage::kUpdate && m.old_kind != 0) return std::nullopt;  // the key changed
  const snapshot::PgTuple& t = m.type == PgMessage::kDelete ? m.old_tuple : m.new_tuple;
  if (t.size() != r.cols.size()) return std::nullopt;
  std::string key;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!r.key[i]) continue;
    if (t[i].kind != PgValue::kText) return std::nullopt;
    key += t[i].text;
    key.push_back('\0');
  }
  if (key.empty()) return std::nullopt;
  return key;
}

}  // namespace

Result<const ApplyRelation*> ChangeBatcher::Find(uint32_t id) const {
  auto it = rels_.find(id);
  if (it == rels_.end()) {
    return Status(Code::kProtocol,
                  "database changes name relation " + std::to_string(id) + " before describing it");
  }
  return &it->second;
}

Result<std::vector<ChangeBatch>> ChangeBatcher::Add(PgMessage m) {
  HASYNC_ASSIGN_OR_RETURN(const ApplyRelation* r, Find(m.rel_id));
  auto key = BatchKey(*r, m);
  if (!key) {
    std::vector<ChangeBatch> out = Flush();
    out.push_back(ChangeBatch{.kind = ChangeBatch::Kind::kRow,
                              .rel = m.rel_id,
                              .type = m.type,
                              .set = {},
                              .changes = {}});
    out.back().changes.push_back(std::move(m));
    return out;
  }
  std::vector<bool> set;
  if (m.type == PgMessage::kUpdate) {
    for (const PgValue& v : m.new_tuple) set.push_back(v.kind != PgValue::kUnchanged);
  }
  const size_t width = r->cols.size() + 1;
  std::vector<ChangeBatch> out;
  if (!run_.changes.empty() && (run_.type != m.type || run_.rel != m.rel_id || run_.set != set ||
                                run_.changes.size() >= std::min(kBatchRows, kMaxParams / width) ||
                                (!key->empty() && run_.keys.count(*key)))) {
    out = Flush();
  }
  run_.type = m.type;
  run_.rel = m.rel_id;
  run_.set = std::move(set);
  if (!key->empty()) run_.keys.insert(std::move(*key));
  run_.changes.push_back(std::move(m));
  return out;
}

std::vector<ChangeBatch> ChangeBatcher::Flush() {
  std::vector<ChangeBatch> out;
  if (run_.changes.empty()) return out;
  std::vector<PgMessage> changes = std::move(run_.changes);
  run_.changes.clear();
  run_.keys.clear();
  const bool inserts = run_.type == PgMessage::kInsert;
  if (inserts && changes.size() >= kCopyMinRows) {
    out.push_back({.kind = ChangeBatch::Kind::kCopy,
                   .rel = run_.rel,
                   .type = run_.type,
                   .set = {},
                   .changes = std::move(changes)});
  } else if (changes.size() == 1 || inserts) {
    for (PgMessage& m : changes) {
      out.push_back({.kind = ChangeBatch::Kind::kRow,
                     .rel = run_.rel,
                     .type = run_.type,
                     .set = {},
                     .changes = {}});
      out.back().changes.push_back(std::move(m));
    }
  } else {
    out.push_back({.kind = ChangeBatch::Kind::kValues,
                   .rel = run_.rel,
                   .type = run_.type,
                   .set = run_.set,
                   .changes = std::move(changes)});
  }
  return out;
}

}  // namespace hasync::engine
