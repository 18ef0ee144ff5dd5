// The reasons in the order they are checked: what the Secondary asked for, then what it has,
// then what the slot still holds. Only the last needs the slot's position.
#include "engine/db/copy_reason.h"

namespace hasync::engine {

Result<std::string> FullCopyReason(const DbRequest& req, const std::string& source_id,
                                   const snapshot::SlotState& slot, const std::string& slot_name) {
  if (req.force_full) {
    return req.full_reason.empty() ? std::string("a full copy was asked for") : req.full_reason;
  }
  if (req.start_lsn == 0) return std::string("first sync of this database");
  if (req.source_id != source_id) {
    return "the Secondary's database was last synced from another server (" + req.source_id +
           ", this one is " + source_id + ")";
  }
  if (!slot.exists) return "replication slot " + slot_name + " is missing on the Primary";
  if (slot.lost) {
    return "replication slot " + slot_name +
           " was invalidated: the WAL it needed was removed (max_slot_wal_keep_size)";
  }
  HASYNC_ASSIGN_OR_RETURN(snapshot::Lsn confirmed, snapshot::ParseLsn(slot.confirmed_flush));
  if (confirmed > req.start_lsn) {
    return "the Secondary's database is at " + snapshot::FormatLsn(req.start_lsn) +
           ", behind the slot's " + snapshot::FormatLsn(confirmed) +
           ": the changes between are gone";
  }
  return std::string();
}

}  // namespace hasync::engine
