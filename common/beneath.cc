// The two resolvers and the *at operations on their handles. openat2 lets the kernel refuse
// every symlink, "..", absolute jump and magic link in one call; the walk does the same one
// component at a time (O_NOFOLLOW | O_DIRECTORY, each openat relative to the previous handle),
// so both hold even while a local user renames and swaps names underneath.
#include "common/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/path.h"
#include "common/posix_env.h"

namespace hasync {
namespace {

constexpr uint64_t kResolveFlags = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

int RawOpenat2(int dir_fd, const char* path, int flags, uint32_t mode) {
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<uint64_t>(flags);
  // openat2 refuses a mode without O_CREAT or O_TMPFILE.
  bool creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? mode : 0;
  how.resolve = kResolveFlags;
  return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof(how)));
}

// ELOOP (a symlink, refused by O_NOFOLLOW or RESOLVE_NO_SYMLINKS), ENOTDIR (a symlink or a file
// where a directory was: O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR) and EXDEV (openat2
// leaving the root) are the marks of a path that does not stay beneath its root.
Status OpenError(const std::string& shown, int err) {
  if (err == ELOOP || err == EXDEV || err == ENOTDIR) {
    return Status(Code::kUnsafePath, "refused " + shown + ": a symlink or a file in its path (" +
                                         std::strerror(err) + ")");
  }
  return ErrnoStatus("opening " + shown, err);
}

Result<UniqueFd> OpenWithOpenat2(int root_fd, std::string_view rel, int flags, uint32_t mode,
                                 const std::string& shown) {
  std::string p(rel);
  for (int attempt = 0;; ++attempt) {
    int fd = RawOpenat2(root_fd, p.c_str(), flags, mode);
    if (fd >= 0) return UniqueFd(fd);
    // EAGAIN: a rename raced the lookup (RESOLVE_BENEATH checks it); try a few times.
    if ((errno == EAGAIN || errno == EINTR) && attempt < 16) continue;
    return OpenError(shown, errno);
  }
}

Result<UniqueFd> OpenWithWalk(int root_fd, std::string_view rel, int flags, uint32_t mode,
                              const std::string& shown) {
  UniqueFd cur;
  int at = root_fd;
  size_t start = 0;
  for (;;) {
    size_t end = rel.find('/', start);
    std::string name(rel.substr(start, end == std::string_view::npos ? rel.npos : end - start));
    if (end == std::string_view::npos) {
      int fd = ::openat(at, name.c_str(), flags, mode);
      if (fd < 0) return OpenError(shown, errno);
      return UniqueFd(fd);
    }
    int fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return OpenError(shown, errno);
    cur = UniqueFd(fd);
    at = cur.get();
    start = end + 1;
  }
}

Resolver ProbeResolver() { return Openat2Available() ? Resolver::kOpenat2 : Resolver::kWalk; }

#define HASYNC_AT(call, what) \
  if ((call) != 0) return ErrnoStatus(what, errno);

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.Release();
  }
  return *this;
}

std::string_view ResolverName(Resolver r) { return r == Resolver::kOpenat2 ? "openat2" : "walk"; }

bool Openat2Available() {
  int root = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return false;
  int fd = RawOpenat2(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  ::close(root);
  if (fd < 0) return false;  // ENOSYS: old kernel; EPERM: seccomp; EINVAL: unknown flags
  ::close(fd);
  return true;
}

Result<Resolver> ChooseResolver(const char* forced) {
  std::string choice = forced ? forced : "";
  if (choice == "walk") return Resolver::kWalk;
  if (choice == "openat2") {
    if (Openat2Available()) return Resolver::kOpenat2;
    return Status(Code::kConfig, "HASYNC_RESOLVE=openat2, but openat2 is not usable here");
  }
  if (choice.empty()) return ProbeResolver();
  return Status(Code::kConfig, "HASYNC_RESOLVE must be 'openat2' or 'walk', not '" + choice + "'");
}

Result<Resolver> DefaultResolver() {
  static const Result<Resolver> chosen = ChooseResolver(std::getenv("HASYNC_RESOLVE"));
  return chosen;
}

Result<RootDir> RootDir::Open(const std::string& path, const RootOptions& o) {
  Resolver r = o.resolver;
  if (o.use_default) {
    HASYNC_ASSIGN_OR_RETURN(r, DefaultResolver());
  }
  if (!o.use_default && r == Resolver::kOpenat2 && !Openat2Available()) {
    return Status(Code::kConfig, "openat2 is not usable here");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return OpenError(path, errno);
  return RootDir(path, UniqueFd(fd), r);
}

Result<RootDir> RootDir::OpenBeneath(const RootDir& parent, std::string_view rel) {
  HASYNC_ASSIGN_OR_RETURN(UniqueFd fd, parent.OpenFd(rel, O_RDONLY | O_DIRECTORY));
  return RootDir(parent.Describe(rel), std::move(fd), parent.resolver());
}

std::string RootDir::Describe(std::string_view rel) const { return JoinPath(path_, rel); }

Result<UniqueFd> RootDir::OpenFd(std::string_view rel, int flags, uint32_t mode) const {
  HASYNC_RETURN_IF_ERROR(ValidateRelativePath(rel));
  flags |= O_NOFOLLOW | O_CLOEXEC;
  std::string shown = Describe(rel);
  if (resolver_ == Resolver::kOpenat2) return OpenWithOpenat2(fd(), rel, flags, mode, shown);
  return OpenWithWalk(fd(), rel, flags, mode, shown);
}

Result<ParentDir> RootDir::OpenParent(std::string_view rel) const {
  HASYNC_RETURN_IF_ERROR(ValidateRelativePath(rel));
  std::string_view parent = ParentOf(rel);
  std::string name(parent.empty() ? rel : rel.substr(parent.size() + 1));
  if (parent.empty()) {
    int fd = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return ErrnoStatus("duplicating the handle of " + path_, errno);
    return ParentDir{UniqueFd(fd), std::move(name)};
  }
  HASYNC_ASSIGN_OR_RETURN(UniqueFd dir, OpenFd(parent, O_RDONLY | O_DIRECTORY));
  return ParentDir{std::move(dir), std::move(name)};
}

Result<std::string> RelativeTo(const std::string& root_path, const std::string& path) {
  std::string_view root(root_path);
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);  // as JoinPath joins
  if (path.size() <= root.size() + 1 || path.compare(0, root.size(), root) != 0 ||
      path[root.size()] != '/') {
    return Status(Code::kUnsafePath, "refused " + path + ": not inside " + root_path);
  }
  std::string rel = path.substr(root.size() + 1);
  HASYNC_RETURN_IF_ERROR(ValidateRelativePath(rel));
  return rel;
}

Result<FileInfo> StatBeneath(const RootDir& root, std::string_view rel) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  struct stat st;
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("stat " + root.Describe(rel), errno);
  }
  return InfoOfStat(st);
}

Result<FileInfo> StatIn(const ParentDir& p, const std::string& shown) {
  struct stat st;
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("stat " + shown, errno);
  }
  return InfoOfStat(st);
}

Status RenameIn(const ParentDir& from, const ParentDir& to, const std::string& shown) {
  HASYNC_AT(::renameat(from.dir.get(), from.name.c_str(), to.dir.get(), to.name.c_str()),
            "renaming " + shown);
  return Status::Ok();
}

Status CreateDirBeneath(const RootDir& root, std::string_view rel, uint32_t mode) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  HASYNC_AT(::mkdirat(p.dir.get(), p.name.c_str(), mode),
            "creating directory " + root.Describe(rel));
  return Status::Ok();
}

Status RemoveBeneath(const RootDir& root, std::string_view rel, FileType type) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  int flags = type == FileType::kDirectory ? AT_REMOVEDIR : 0;
  HASYNC_AT(::unlinkat(p.dir.get(), p.name.c_str(), flags), "removing " + root.Describe(rel));
  return Status::Ok();
}

Status RenameBeneath(const RootDir& root, std::string_view from, std::string_view to) {
  return RenameBetween(root, from, root, to);
}

Status LinkBeneath(const RootDir& root, std::string_view existing, std::string_view new_rel) {
  return LinkBetween(root, existing, root, new_rel);
}

Status RenameBetween(const RootDir& from_root, std::string_view from, const RootDir& to_root,
                     std::string_view to) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir a, from_root.OpenParent(from));
  HASYNC_ASSIGN_OR_RETURN(ParentDir b, to_root.OpenParent(to));
  HASYNC_AT(::renameat(a.dir.get(), a.name.c_str(), b.dir.get(), b.name.c_str()),
            "renaming " + from_root.Describe(from) + " to " + to_root.Describe(to));
  return Status::Ok();
}

Status LinkBetween(const RootDir& from_root, std::string_view existing, const RootDir& to_root,
                   std::string_view new_rel) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir a, from_root.OpenParent(existing));
  HASYNC_ASSIGN_OR_RETURN(ParentDir b, to_root.OpenParent(new_rel));
  // No AT_SYMLINK_FOLLOW: a symlink swapped in for `existing` is linked itself, never its target.
  HASYNC_AT(::linkat(a.dir.get(), a.name.c_str(), b.dir.get(), b.name.c_str(), 0),
            "linking " + to_root.Describe(new_rel) + " to " + from_root.Describe(existing));
  return Status::Ok();
}

Status SymlinkBeneath(const RootDir& root, const std::string& target, std::string_view rel) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  HASYNC_AT(::symlinkat(target.c_str(), p.dir.get(), p.name.c_str()),
            "creating symlink " + root.Describe(rel));
  return Status::Ok();
}

Result<std::vector<DirEntryInfo>> ListDirInfoBeneath(const RootDir& root, std::string_view rel) {
  int fd = -1;
  if (rel.empty()) {
    fd = ::openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("opening " + root.path(), errno);
  } else {
    HASYNC_ASSIGN_OR_RETURN(UniqueFd dir, root.OpenFd(rel, O_RDONLY | O_DIRECTORY));
    fd = dir.Release();
  }
  std::string shown = rel.empty() ? root.path() : root.Describe(rel);
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("listing " + shown, err);
  }
  std::vector<DirEntryInfo> out;
  Status result;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) result = ErrnoStatus("listing " + shown, errno);
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone since readdir: not part of this scan
      result = ErrnoStatus("stat " + shown + "/" + e->d_name, errno);
      break;
    }
    out.push_back(DirEntryInfo{e->d_name, InfoOfStat(st)});
  }
  ::closedir(dir);
  HASYNC_RETURN_IF_ERROR(result);
  return out;
}

Result<std::string> ReadLinkBeneath(const RootDir& root, std::string_view rel) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  std::string buf(4096, '\0');
  ssize_t n = ::readlinkat(p.dir.get(), p.name.c_str(), buf.data(), buf.size());
  if (n < 0) return ErrnoStatus("readlink " + root.Describe(rel), errno);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status RemoveTreeAt(int dir_fd, const std::string& name, const std::string& shown) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : ErrnoStatus("stat " + shown, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return Status::Ok();
    return ErrnoStatus("removing " + shown, errno);
  }
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    // Swapped for a symlink or a file since the fstatat: remove that name, never follow it.
    if (errno == ELOOP || errno == ENOTDIR) return RemoveTreeAt(dir_fd, name, shown);
    return errno == ENOENT ? Status::Ok() : ErrnoStatus("opening " + shown, errno);
  }
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("listing " + shown, err);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
  }
  Status result = errno != 0 ? ErrnoStatus("listing " + shown, errno) : Status::Ok();
  for (const std::string& n : names) {
    if (!result.ok()) break;
    result = RemoveTreeAt(::dirfd(dir), n, shown + "/" + n);
  }
  ::closedir(dir);
  HASYNC_RETURN_IF_ERROR(result);
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return Status::Ok();
  return ErrnoStatus("removing directory " + shown, errno);
}

Status RemoveTreeBeneath(const RootDir& root, std::string_view rel) {
  auto p = root.OpenParent(rel);
  if (!p.ok()) return p.status().code() == Code::kNotFound ? Status::Ok() : p.status();
  return RemoveTreeAt(p->dir.get(), p->name, root.Describe(rel));
}

namespace {

struct timespec MtimeSpec(int64_t mtime_ns) {
  struct timespec ts;
  ts.tv_sec = mtime_ns / 1000000000;
  ts.tv_nsec = mtime_ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

bool TypeMatches(mode_t m, FileType t) {
  switch (t) {
    case FileType::kRegular:
      return S_ISREG(m);
    case FileType::kDirectory:
      return S_ISDIR(m);
    case FileType::kSymlink:
      return S_ISLNK(m);
    case FileType::kOther:
      return !S_ISREG(m) && !S_ISDIR(m) && !S_ISLNK(m);
  }
  return false;
}

// A symlink: its own owner and times, through its parent's handle; its mode is never set.
Result<MetaOutcome> SetSymlinkMeta(const ParentDir& p, const std::string& shown,
                                   const MetaOptions& o) {
  struct stat st;
  if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("stat " + shown, errno);
  }
  if (!S_ISLNK(st.st_mode)) return MetaOutcome::kTypeChanged;
  if (o.set_owner) {
    HASYNC_AT(::fchownat(p.dir.get(), p.name.c_str(), o.uid, o.gid, AT_SYMLINK_NOFOLLOW),
              "setting owner of " + shown);
  }
  if (o.set_mtime) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, MtimeSpec(o.mtime_ns)};
    HASYNC_AT(::utimensat(p.dir.get(), p.name.c_str(), ts, AT_SYMLINK_NOFOLLOW),
              "setting mtime of " + shown);
  }
  return MetaOutcome::kApplied;
}

// Owner, mode, extended attributes (and ACLs), mtime, in that order, on an open handle (by_path:
// an O_PATH one, through /proc/self/fd for what has no f-call that takes it).
Status ApplyMeta(int fd, bool by_path, const std::string& shown, const MetaOptions& o) {
  std::string proc = by_path ? "/proc/self/fd/" + std::to_string(fd) : std::string();
  if (o.set_owner) {
    if (by_path) {
      HASYNC_AT(::fchownat(fd, "", o.uid, o.gid, AT_EMPTY_PATH), "setting owner of " + shown);
    } else {
      HASYNC_AT(::fchown(fd, o.uid, o.gid), "setting owner of " + shown);
    }
  }
  if (o.set_mode) {  // after chown, which clears set-id bits
    if (by_path) {
      HASYNC_AT(::chmod(proc.c_str(), o.mode & 07777), "setting mode of " + shown);
    } else {
      HASYNC_AT(::fchmod(fd, o.mode & 07777), "setting mode of " + shown);
    }
  }
  // After chown, which clears security.capability, and after chmod, which an ACL's mask follows.
  if (o.xattrs != nullptr) {
    HASYNC_RETURN_IF_ERROR(ApplyXattrsFd(fd, by_path, *o.xattrs, RunningAsRoot(), shown));
  }
  if (o.set_mtime) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, MtimeSpec(o.mtime_ns)};
    if (by_path) {
      HASYNC_AT(::utimensat(AT_FDCWD, proc.c_str(), ts, 0), "setting mtime of " + shown);
    } else {
      HASYNC_AT(::futimens(fd, ts), "setting mtime of " + shown);
    }
  }
  return Status::Ok();
}

// The entry's own handle: O_RDONLY so fchmod and friends work (they fail on O_PATH), O_NONBLOCK
// so a FIFO swapped in does not block. A file this account may not read (no root, mode 0200)
// falls back to O_PATH, whose pinned inode /proc/self/fd names for chmod.
Result<MetaOutcome> SetEntryMeta(const ParentDir& p, const std::string& shown, FileType expected,
                                 const MetaOptions& o) {
  int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (expected == FileType::kDirectory) flags |= O_DIRECTORY;
  bool by_path = expected == FileType::kOther;  // devices: never open them for real
  int fd = by_path ? -1 : ::openat(p.dir.get(), p.name.c_str(), flags);
  if (fd < 0 && (by_path || errno == EACCES)) {
    by_path = true;
    fd = ::openat(p.dir.get(), p.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) {
    // A symlink (ELOOP) or a file where a directory was (ENOTDIR): a local change.
    if (errno == ELOOP || errno == ENOTDIR) return MetaOutcome::kTypeChanged;
    return ErrnoStatus("opening " + shown, errno);
  }
  UniqueFd h(fd);
  struct stat st;
  HASYNC_AT(::fstat(fd, &st), "stat " + shown);
  if (!TypeMatches(st.st_mode, expected)) return MetaOutcome::kTypeChanged;
  HASYNC_RETURN_IF_ERROR(ApplyMeta(fd, by_path, shown, o));
  return MetaOutcome::kApplied;
}

}  // namespace

Result<XattrList> ReadXattrsAt(int dir_fd, const std::string& name, const std::string& shown) {
  int fd = ::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("opening " + shown, errno);
  UniqueFd h(fd);
  return ReadXattrsFd(fd, true, RunningAsRoot(), shown);
}

Status SetMetaOnFd(int fd, const std::string& shown, const MetaOptions& o) {
  return ApplyMeta(fd, /*by_path=*/false, shown, o);
}

Result<MetaOutcome> SetMetaBeneath(const RootDir& root, std::string_view rel, FileType expected,
                                   const MetaOptions& o) {
  HASYNC_ASSIGN_OR_RETURN(ParentDir p, root.OpenParent(rel));
  std::string shown = root.Describe(rel);
  if (expected == FileType::kSymlink) return SetSymlinkMeta(p, shown, o);
  return SetEntryMeta(p, shown, expected, o);
}

Result<FileInfo> StatRoot(const RootDir& root) {
  struct stat st;
  HASYNC_AT(::fstat(root.fd(), &st), "stat " + root.path());
  return InfoOfStat(st);
}

Status SetRootMeta(const RootDir& root, const MetaOptions& o) {
  const std::string& shown = root.path();
  if (o.set_owner) HASYNC_AT(::fchown(root.fd(), o.uid, o.gid), "setting owner of " + shown);
  if (o.set_mode) HASYNC_AT(::fchmod(root.fd(), o.mode & 07777), "setting mode of " + shown);
  if (o.set_mtime) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, MtimeSpec(o.mtime_ns)};
    HASYNC_AT(::futimens(root.fd(), ts), "setting mtime of " + shown);
  }
  return Status::Ok();
}

}  // namespace hasync
