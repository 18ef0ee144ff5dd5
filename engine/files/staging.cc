// StagingArea: creating, naming and removing the staging folders.
#include "engine/files/staging.h"

#include "common/hash.h"
#include "common/path.h"
#include "engine/files/journal.h"
#include "snapshot/scanner.h"

namespace hasync::engine {

Status StagingArea::Prepare() {
  dirs_.clear();
  before_.clear();
  for (const std::string& root : roots_) {
    HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(root));
    HASYNC_ASSIGN_OR_RETURN(FileInfo info, StatRoot(dir));
    dirs_.push_back(std::move(dir));
    before_.push_back(info);
  }
  const std::string name(snapshot::kStagingDirName);
  for (uint32_t i = 0; i < roots_.size(); ++i) {
    HASYNC_RETURN_IF_ERROR(RemoveTreeBeneath(dirs_[i], name));
    HASYNC_RETURN_IF_ERROR(CreateDirBeneath(dirs_[i], name, 0700));
    created_ = true;
    HintSpreadSubdirs(Dir(i));
    for (uint32_t b = 0; b < kBuckets; ++b) {
      HASYNC_RETURN_IF_ERROR(CreateDirBeneath(dirs_[i], name + "/b" + std::to_string(b), 0700));
    }
  }
  return Status::Ok();
}

Status StagingArea::Remove() {
  if (!created_) return Status::Ok();
  Status first;
  for (uint32_t i = 0; i < roots_.size(); ++i) {
    Status st = i < dirs_.size()
                    ? RemoveTreeBeneath(dirs_[i], std::string(snapshot::kStagingDirName))
                    : RemoveTree(env_, Dir(i));
    if (st.ok() && i < dirs_.size()) st = ApplyRootMeta(dirs_[i], Before(i));
    if (!st.ok() && first.ok()) first = st.Context("removing " + Dir(i));
  }
  created_ = false;
  return first;
}

std::string StagingArea::Dir(uint32_t root) const {
  return JoinPath(roots_[root], snapshot::kStagingDirName);
}

std::string StagingArea::PathFor(uint32_t root, std::string_view path, char kind, size_t n) const {
  std::string_view parent = ParentOf(path);
  uint64_t bucket = Hash64(parent.data(), parent.size()) % kBuckets;
  return Dir(root) + "/b" + std::to_string(bucket) + "/" + kind + std::to_string(n);
}

}  // namespace hasync::engine
