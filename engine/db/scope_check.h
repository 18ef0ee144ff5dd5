// What the Secondary lets the Primary write: tables and sequences of this node's own scope only,
// so objects a Primary should not send (a misconfigured or hostile one) are refused before
// anything of them is applied.
#pragma once

#include <string>

#include "common/status.h"
#include "snapshot/db_catalog.h"

namespace hasync::engine {

// kProtocol unless schema.name's rows are replicated under this node's scope.
inline Status CheckInScope(const snapshot::DbScope& scope, const std::string& schema,
                           const std::string& name) {
  if (!snapshot::TableDataInScope(scope, schema, name)) {
    return Status(Code::kProtocol, "the Primary sent " + schema + "." + name +
                                       ", which is outside this node's replicated schemas");
  }
  return Status::Ok();
}

}  // namespace hasync::engine
