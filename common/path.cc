// Relative path checks.
#include "common/path.h"

namespace hasync {

Status ValidateRelativePath(std::string_view path) {
  auto bad = [&](const char* why) {
    std::string shown(path.substr(0, 200));
    for (char& c : shown) {
      if (c == '\0') c = '?';
    }
    return Status(Code::kUnsafePath, "refused path '" + shown + "': " + why);
  };
  if (path.empty()) return bad("empty");
  if (path.size() > kMaxPathLength) return bad("too long");
  if (path.front() == '/') return bad("absolute");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view name = path.substr(start, end - start);
    if (name.empty()) return bad("empty name");
    if (name == "." || name == "..") return bad("'.' or '..' component");
    if (name.size() > kMaxNameLength) return bad("name too long");
    if (name.find('\0') != std::string_view::npos) return bad("NUL byte");
    start = end + 1;
  }
  return Status::Ok();
}

std::string_view ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace hasync
