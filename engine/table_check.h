// Table checks for `hasync verify` and verified syncs: each table's row count and an
// order-independent hash of its rows (the sum of a 64-bit hash of each row's text), and for a
// table with a one-column primary key the same per key range, so a difference is narrowed to a
// range. The Primary picks the ranges; the Secondary hashes the same ranges.
#pragma once

#include <vector>

#include "common/status.h"
#include "engine/verify_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::engine {

// REQUIRES: c is in a transaction (REPEATABLE READ on the Primary: one snapshot for all tables).
// primary: null on the Primary (it picks the key ranges), else the Primary's checks.
Result<std::vector<TableCheck>> CheckTablesOn(snapshot::PgConn& c, const snapshot::DbScope& scope,
                                              const VerifyTables* primary);

}  // namespace hasync::engine
