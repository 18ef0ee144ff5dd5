// Manifest comparison: which paths differ between two manifests of the same root, and how.
// The tests use it to prove a Secondary byte-identical to its Primary; `hasync verify` will
// build on it.
#pragma once

#include <string>
#include <vector>

#include "snapshot/manifest.h"

namespace hasync::verify {

struct Difference {
  std::string path;
  std::string what;  // "missing on the right", "content", "mode", ...
};

struct DiffOptions {
  bool compare_mtime = true;
  bool compare_owner = false;
};

// REQUIRES: both manifests hashed (ScanOptions::hash_uncached).
std::vector<Difference> DiffManifests(const snapshot::Manifest& left,
                                      const snapshot::Manifest& right, const DiffOptions& options);

}  // namespace hasync::verify
