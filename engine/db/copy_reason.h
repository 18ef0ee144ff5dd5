// Why a database request gets a full copy instead of the changes since the Secondary's position,
// decided from the request and the state of the Secondary's slot on the Primary. Pure, so each
// reason (the words the operator reads in the log and the status) is tested on its own.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/wire/db_protocol.h"
#include "snapshot/pg_source.h"

namespace hasync::engine {

// "" when the slot still holds every change since req.start_lsn (incremental), else the reason
// for a full copy. source_id is the Primary's (PgSource::SourceId), slot_name the slot's.
// kProtocol when the slot's confirmed position cannot be parsed.
Result<std::string> FullCopyReason(const DbRequest& req, const std::string& source_id,
                                   const snapshot::SlotState& slot, const std::string& slot_name);

}  // namespace hasync::engine
