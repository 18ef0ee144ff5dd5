// The staging folders of one sync: <root>/.hasync-staging on each root's own file system, so a
// staged file reaches its place by an atomic rename (DESIGN.md, "Atomic commit"). New files,
// symlinks and hard-link temporaries are staged here; the redo log of in-place writes too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/beneath.h"
#include "common/env.h"
#include "common/status.h"

namespace hasync::engine {

// Owned by the session's thread; the paths it hands out are used by the receiver's shards.
class StagingArea {
 public:
  // Bucket folders per root: see PathFor.
  static constexpr uint32_t kBuckets = 32;

  // roots: each root's absolute path, in the settings' order.
  StagingArea(Env& env, std::vector<std::string> roots) : env_(env), roots_(std::move(roots)) {}

  // Opens each root's handle, notes the root's own mode and mtime, removes whatever a previous
  // sync left and creates the folders (mode 0700), all beneath the handles.
  Status Prepare();
  // Best effort: removes every root's staging folder and gives the root back the mode and
  // mtime Prepare noted (a failed sync leaves no trace on it); returns the first failure.
  Status Remove();
  // The root's mode and mtime as Prepare found them. REQUIRES: Prepare() succeeded.
  MetaOptions Before(uint32_t root) const {
    return MetaOptions{.mode = before_[root].mode, .mtime_ns = before_[root].mtime_ns};
  }
  // The journal now owns what is staged (its roll-forward renames it away): Remove() is a
  // no-op from here on.
  void Release() { created_ = false; }
  bool created() const { return created_; }

  // <root>/.hasync-staging
  std::string Dir(uint32_t root) const;
  // Where a staged file for `path` goes: one of kBuckets folders, picked by the file's parent,
  // so the files of one folder stay together and the file system spreads the buckets over its
  // allocation groups. One flat folder made ext4 scan a single group's inode bitmap for every
  // create: rsync -T slows the same way (7.3 s to 12.0 s for bench/run.sh's tree). kind: 'f'
  // file, 'l' symlink, 'h' hard-link temporary; n makes the name unique within the sync.
  std::string PathFor(uint32_t root, std::string_view path, char kind, size_t n) const;
  // The redo log of a root's in-place writes.
  std::string RedoPath(uint32_t root) const { return Dir(root) + "/redo"; }

  // The root's handle, through which every staged file and every read of the old tree goes.
  // REQUIRES: Prepare() succeeded.
  const RootDir& Root(uint32_t root) const { return dirs_[root]; }
  // A path this area handed out (or any path inside the root), relative to the root.
  Result<std::string> Rel(uint32_t root, const std::string& path) const {
    return RelativeTo(roots_[root], path);
  }

 private:
  Env& env_;
  std::vector<std::string> roots_;
  std::vector<RootDir> dirs_;
  std::vector<FileInfo> before_;
  bool created_ = false;
};

}  // namespace hasync::engine
