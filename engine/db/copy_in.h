// COPY ... FROM STDIN on the Secondary, shared by the table loads (binary, the Primary's bytes as
// they come) and the change applier's runs of inserts (text it writes itself): the data goes in
// pieces of any size and the server's row count at the end is what is checked.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "snapshot/pg.h"

namespace hasync::engine {

// Sends data to the COPY in progress; kDatabase "<what>: <server's message>".
// REQUIRES: a COPY FROM STDIN is in progress on c.
Status PutCopyData(snapshot::PgConn& c, std::span<const char> data, const std::string& what);
// Ends the COPY in progress: the rows it loaded; kDatabase "loading <what>: ...".
// REQUIRES: a COPY FROM STDIN is in progress on c.
Result<uint64_t> EndCopyIn(snapshot::PgConn& c, const std::string& what);

}  // namespace hasync::engine
