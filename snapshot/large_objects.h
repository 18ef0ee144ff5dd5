// Large objects (pg_largeobject) live outside every table a publication can hold, so logical
// decoding never carries them: neither a full copy (pg_dump's schema section leaves them out)
// nor the change stream brings them to the Secondary. hasync does not replicate them; the
// Primary says so, with their count, at each sync that has any.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

// The number of large objects in c's database (pg_largeobject_metadata, which every role may
// read). Database-wide: large objects belong to no schema, so the scope does not apply.
Result<uint64_t> CountLargeObjects(PgConn& c);

}  // namespace hasync::snapshot
