// Glob matching with fnmatch(3).
#include "snapshot/filter.h"

#include <fnmatch.h>

#include "common/hash.h"

namespace hasync::snapshot {
namespace {

bool Matches(const std::string& pattern, const std::string& path) {
  if (pattern.find('/') != std::string::npos) {
    return ::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0;
  }
  size_t slash = path.rfind('/');
  const char* name = path.c_str() + (slash == std::string::npos ? 0 : slash + 1);
  return ::fnmatch(pattern.c_str(), name, 0) == 0;
}

}  // namespace

bool Filter::Excluded(std::string_view rel_path, bool is_dir) const {
  std::string path(rel_path);
  for (const auto& p : exclude_) {
    if (Matches(p, path)) return true;
  }
  if (is_dir || include_.empty()) return false;
  for (const auto& p : include_) {
    if (Matches(p, path)) return false;
  }
  return true;
}

uint64_t Filter::Fingerprint() const {
  // Each pattern with its length, includes and excludes apart: no two lists spell the same.
  std::string all;
  for (const auto* list : {&include_, &exclude_}) {
    all += std::to_string(list->size()) + ":";
    for (const std::string& p : *list) all += std::to_string(p.size()) + ":" + p;
  }
  return Hash64(std::as_bytes(std::span<const char>(all.data(), all.size())));
}

}  // namespace hasync::snapshot
