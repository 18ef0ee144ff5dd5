// Relative paths inside a root: the one check that keeps whatever a peer sends inside the
// configured roots (invariant 5).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hasync {

constexpr size_t kMaxPathLength = 4096;
constexpr size_t kMaxNameLength = 255;

// ok only for a non-empty relative path of '/'-separated names, none of them empty, "." or "..",
// without NUL bytes and within the length limits. Anything else is kUnsafePath.
Status ValidateRelativePath(std::string_view path);

// "a/b/c" -> "a/b"; "c" -> "".
std::string_view ParentOf(std::string_view path);

// root + "/" + rel.
inline std::string JoinPath(std::string_view root, std::string_view rel) {
  std::string out(root);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(rel);
  return out;
}

}  // namespace hasync
