// The count reads pg_largeobject_metadata, not pg_largeobject: the latter holds the data pages
// and only a superuser may read it.
#include "snapshot/large_objects.h"

#include <string>

namespace hasync::snapshot {

Result<uint64_t> CountLargeObjects(PgConn& c) {
  HASYNC_ASSIGN_OR_RETURN(PgResult r,
                          c.Exec("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata"));
  if (r.rows() != 1) return Status(Code::kDatabase, "counting large objects returned no row");
  return static_cast<uint64_t>(std::stoull(r.Get(0, 0)));
}

}  // namespace hasync::snapshot
