// Include and exclude globs of a file root (fnmatch(3) patterns). A pattern with a '/' matches
// the whole relative path; one without matches any single name, as rsync's do. An excluded
// directory is not descended into. With includes set, a file or symlink must match one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hasync::snapshot {

class Filter {
 public:
  Filter() = default;
  Filter(std::vector<std::string> include, std::vector<std::string> exclude)
      : include_(std::move(include)), exclude_(std::move(exclude)) {}
  bool Excluded(std::string_view rel_path, bool is_dir) const;
  // Differs between any two filters that can exclude different paths (a manifest scanned with
  // one is not the cache of a walk of changed folders with another).
  uint64_t Fingerprint() const;

 private:
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
};

}  // namespace hasync::snapshot
