// `hasync config set KEY VALUE`: edits one key of the settings text in place (comments and the
// rest of the file stay as they are), and the caller validates the result before writing it.
#pragma once

#include <string>

#include "common/status.h"

namespace hasync::engine {

// KEY is "section.key" (e.g. "secondary.run_every"). VALUE true/false, a whole number or a
// [list] goes in as it is; anything else as a quoted string. kUsage for a malformed key.
Result<std::string> SetConfigValue(const std::string& text, const std::string& key,
                                   const std::string& value);

// Writes text to path through a temporary file, fsync and rename.
Status WriteFileAtomically(const std::string& path, const std::string& text);

// The conninfo with any password replaced, for display.
std::string MaskConninfo(const std::string& conninfo);

}  // namespace hasync::engine
