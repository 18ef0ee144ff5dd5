// RootDir: a root directory opened once, and every path operation resolved beneath its handle,
// so a local user who swaps a directory or file for a symlink between a scan and the operation
// cannot redirect it outside the root (issue 14; rsync's CVE-2024-12087/-12088/-12747 class).
// Two resolvers: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), reached
// by the raw syscall (glibc 2.36 has no wrapper), and a walk of one openat(O_NOFOLLOW |
// O_DIRECTORY) per component relative to the previous handle where openat2 is missing. Nothing
// is cached: every call walks again from the root's handle.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace hasync {

enum class Resolver : uint8_t { kOpenat2 = 0, kWalk = 1 };

// "openat2" or "walk".
std::string_view ResolverName(Resolver resolver);
// True when openat2 with RESOLVE_BENEATH works here; ENOSYS, EPERM (seccomp) and any other
// failure count as missing.
bool Openat2Available();
// The process-wide choice, made once: ChooseResolver(getenv("HASYNC_RESOLVE")).
Result<Resolver> DefaultResolver();
// forced "walk" or "openat2" (openat2 when unavailable is kConfig); null or "" probes: openat2
// when usable, else walk; anything else is kConfig.
Result<Resolver> ChooseResolver(const char* forced);

// An owned file descriptor; closed on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// The parent directory of an entry, open, and the entry's last name.
struct ParentDir {
  UniqueFd dir;
  std::string name;
};

struct RootOptions {
  bool use_default = true;  // DefaultResolver(); else `resolver`
  Resolver resolver = Resolver::kWalk;
};

// Thread-safe: const operations only; every call opens its own handles.
class RootDir {
 public:
  // Opens path (trusted: the configured root) as a directory, O_NOFOLLOW on its last name.
  static Result<RootDir> Open(const std::string& path, const RootOptions& options = {});
  // Opens the directory rel beneath parent (as OpenFd does) as a root of its own, with
  // parent's resolver: a handle that stays on that directory whatever its name becomes.
  static Result<RootDir> OpenBeneath(const RootDir& parent, std::string_view rel);

  const std::string& path() const { return path_; }
  Resolver resolver() const { return resolver_; }
  int fd() const { return fd_.get(); }
  // root + "/" + rel, for messages.
  std::string Describe(std::string_view rel) const;

  // Opens rel beneath the root with flags (O_NOFOLLOW and O_CLOEXEC added). rel must pass
  // ValidateRelativePath (no "..", nothing absolute, no empty name); a symlink in any component,
  // the last included, is kUnsafePath.
  Result<UniqueFd> OpenFd(std::string_view rel, int flags, uint32_t mode = 0) const;
  // The directory holding rel (a dup of the root's handle for a top-level name) and its name.
  Result<ParentDir> OpenParent(std::string_view rel) const;

 private:
  RootDir(std::string path, UniqueFd fd, Resolver r)
      : path_(std::move(path)), fd_(std::move(fd)), resolver_(r) {}
  std::string path_;
  UniqueFd fd_;
  Resolver resolver_;
};

// rel of path inside root ("/srv/r", "/srv/r/a/b" -> "a/b"), or kUnsafePath.
Result<std::string> RelativeTo(const std::string& root, const std::string& path);

// The *at operations, each relative to the parent's handle. None follows a symlink.
Result<FileInfo> StatBeneath(const RootDir& root, std::string_view rel);
// An entry of a parent directory already opened (RootDir::OpenParent), so that a check and the
// change it allows act on the same handle: fstatat without following, and renameat.
Result<FileInfo> StatIn(const ParentDir& parent, const std::string& shown);
Status RenameIn(const ParentDir& from, const ParentDir& to, const std::string& shown);
Status CreateDirBeneath(const RootDir& root, std::string_view rel, uint32_t mode);
// unlinkat; AT_REMOVEDIR when type is kDirectory.
Status RemoveBeneath(const RootDir& root, std::string_view rel, FileType type);
Status RenameBeneath(const RootDir& root, std::string_view from, std::string_view to);
Status LinkBeneath(const RootDir& root, std::string_view existing, std::string_view new_rel);
// The same between two handles on one file system (a staging folder's and its root's).
Status RenameBetween(const RootDir& from_root, std::string_view from, const RootDir& to_root,
                     std::string_view to);
Status LinkBetween(const RootDir& from_root, std::string_view existing, const RootDir& to_root,
                   std::string_view new_rel);
Status SymlinkBeneath(const RootDir& root, const std::string& target, std::string_view rel);
// Lists the directory rel ("" for the root itself) with each entry's lstat data, through the
// directory's own handle (fstatat relative to it); entries gone in between are left out.
Result<std::vector<DirEntryInfo>> ListDirInfoBeneath(const RootDir& root, std::string_view rel);
// The managed extended attributes (common/xattr.h) of `name` in dir_fd, through an O_PATH
// handle opened O_NOFOLLOW on it. kNotFound when it is gone. REQUIRES: not a symlink (whose
// attributes are not replicated: user.* cannot be set on one).
Result<XattrList> ReadXattrsAt(int dir_fd, const std::string& name, const std::string& shown);
// readlinkat on the parent's handle.
Result<std::string> ReadLinkBeneath(const RootDir& root, std::string_view rel);
// Removes rel and all below it, recursing on directory handles (openat O_DIRECTORY|O_NOFOLLOW,
// fdopendir, unlinkat): a directory swapped for a symlink loses only the symlink. Missing is
// fine.
Status RemoveTreeBeneath(const RootDir& root, std::string_view rel);
// The same below an open directory: removes `name` in dir_fd.
Status RemoveTreeAt(int dir_fd, const std::string& name, const std::string& shown);

enum class MetaOutcome : uint8_t {
  kApplied = 0,
  kTypeChanged = 1,  // not the type the plan expected (a local change): nothing was set
};
// Sets metadata on rel through the entry's own handle (opened O_RDONLY | O_NOFOLLOW | O_NONBLOCK
// relative to its parent, fstat'ed to confirm `expected`, then fchown / fchmod / the extended
// attributes / futimens); a
// symlink's owner and times through fchownat / utimensat(AT_SYMLINK_NOFOLLOW) on the parent.
// The same on a file this process has open (a staged file it wrote): owner, mode, extended
// attributes and ACLs, mtime, in that order, with no path looked up again.
Status SetMetaOnFd(int fd, const std::string& shown, const MetaOptions& options);
Result<MetaOutcome> SetMetaBeneath(const RootDir& root, std::string_view rel, FileType expected,
                                   const MetaOptions& options);

// The root directory's own metadata, through its pinned handle (fstat; fchown, fchmod, futimens
// on root.fd()): the root is never reached by its path again once opened.
Result<FileInfo> StatRoot(const RootDir& root);
Status SetRootMeta(const RootDir& root, const MetaOptions& options);

}  // namespace hasync
