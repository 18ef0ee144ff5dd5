// Env: every file-system operation hasync performs goes through this interface, so the same
// engine runs on io_uring, on portable pread/pwrite, or on a fault-injecting wrapper in tests.
// Modelled on LevelDB's Env; paths are plain strings, and no operation ever follows a symlink
// in its last component (the engine confines paths to their roots; see engine/apply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/xattr.h"

namespace hasync {

class RootDir;  // common/beneath.h

enum class FileType : uint8_t { kRegular = 0, kDirectory = 1, kSymlink = 2, kOther = 3 };

struct FileInfo {
  FileType type = FileType::kOther;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
  uint64_t nlink = 0;
};

struct DirEntry {
  std::string name;
  FileType type;  // from d_type; kOther when the file system does not say
};

// A directory entry with its lstat data.
struct DirEntryInfo {
  std::string name;
  FileInfo info;
};

// One read of a batch: fills `buf` from `offset`; `done` is how much was read (short only at EOF).
struct ReadOp {
  uint64_t offset = 0;
  std::span<std::byte> buf;
  size_t done = 0;
};

struct WriteOp {
  uint64_t offset = 0;
  std::span<const std::byte> data;
};

// A run of read ops whose file ranges and buffers are both contiguous: one transfer serves them
// all. Block-sized ops (8 KiB) become megabyte-sized reads this way on either backend.
struct ReadRun {
  size_t first = 0;  // index of the run's first op
  size_t count = 0;
  uint64_t offset = 0;
  std::span<std::byte> buf;
};
std::vector<ReadRun> CoalesceReads(std::span<ReadOp> ops);
// Hands a run's transferred byte count back to its ops, in order.
void SetRunDone(std::span<ReadOp> ops, const ReadRun& run, size_t done);

// A byte range [begin, end) of a file.
struct FileRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Thread safety: a file object may be used from one thread at a time.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // The holes in [begin, end), in order (lseek SEEK_DATA / SEEK_HOLE): ranges that read as
  // zeros and take no space. Only what lies inside the file's current size is a hole (a file
  // that shrank reads short, as it would). Default, and where the file system cannot say: none.
  virtual Result<std::vector<FileRange>> Holes(uint64_t begin, uint64_t end);
  // Reads up to buf.size() bytes at offset; fewer only at end of file.
  virtual Result<size_t> Read(uint64_t offset, std::span<std::byte> buf) = 0;
  // Reads every op; the io_uring backend submits them together. Default: one Read per run of
  // contiguous ops.
  virtual Status ReadMany(std::span<ReadOp> ops);
};

struct MetaOptions;

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status WriteAt(uint64_t offset, std::span<const std::byte> data) = 0;
  // Writes every op; the io_uring backend submits them together. Default: one WriteAt each.
  virtual Status WriteMany(std::span<const WriteOp> ops);
  virtual Status Truncate(uint64_t size) = 0;
  // Starts write-back of what was written so far without waiting (a later Sync or SyncFs is
  // then cheap). Never fails: it is only a hint.
  virtual void StartWriteback() {}
  virtual Status Sync() = 0;
  // Owner, mode, extended attributes and ACLs, then mtime, on this open file itself (beneath.h's
  // SetMetaOnFd): no path is looked up again.
  virtual Status SetMeta(const MetaOptions& options) = 0;
  virtual Status Close() = 0;
};

struct OpenWriteOptions {
  bool create = true;
  bool truncate = true;
  bool exclusive = false;  // fail if it exists
  uint32_t mode = 0600;
};

struct MetaOptions {
  bool set_mode = true;
  uint32_t mode = 0644;
  bool set_owner = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool set_mtime = true;
  int64_t mtime_ns = 0;
  // Set: the entry's managed extended attributes (common/xattr.h) become exactly these, after
  // owner and mode and before mtime. Null: left as they are. Symlinks' are never set.
  const XattrList* xattrs = nullptr;
};

class Env {
 public:
  virtual ~Env() = default;
  // "uring", "posix", or the wrapper's name.
  virtual std::string Name() const = 0;

  // Stream I/O on a pipe or socket the caller owns (the sync channel): returns the bytes moved
  // (0: end of stream on a read) or -errno. The io_uring backend runs them on its ring like
  // file I/O; the default is read(2)/write(2), retried on EINTR.
  virtual ssize_t ReadStream(int fd, std::span<std::byte> buf);
  virtual ssize_t WriteStream(int fd, std::span<const std::byte> data);

  virtual Result<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) = 0;
  virtual Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path,
                                                             const OpenWriteOptions& options) = 0;
  // lstat: never follows a symlink.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;
  // Lists a directory with each entry's lstat data; entries that vanish in between are left
  // out. Default: ListDir, then Stat of each path; the posix backend stats relative to the open
  // directory, which spares the kernel a path walk per entry.
  virtual Result<std::vector<DirEntryInfo>> ListDirInfo(const std::string& path);
  virtual Result<std::string> ReadLink(const std::string& path) = 0;
  virtual Status CreateDir(const std::string& path, uint32_t mode) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status RemoveDir(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Link(const std::string& existing, const std::string& new_path) = 0;
  virtual Status Symlink(const std::string& target, const std::string& link_path) = 0;
  // Sets metadata without following a symlink (a symlink's mode is never set).
  virtual Status SetMeta(const std::string& path, const MetaOptions& options) = 0;
  // fsync of a directory, so the names in it are durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // syncfs(2) of the file system holding path: one call makes every written file durable.
  virtual Status SyncFs(const std::string& path) = 0;
  // Copies len bytes between two paths' files in the kernel (copy_file_range; reflinks where
  // the file system can). Used to carry unchanged blocks into a staged file.
  virtual Status CopyRange(const std::string& src, uint64_t src_offset, const std::string& dst,
                           uint64_t dst_offset, uint64_t len) = 0;

  // The same beneath a root's handle (common/beneath.h): rel is resolved by the root's resolver
  // without following a symlink in any component, and only a regular file is accepted (a FIFO
  // or device swapped in is refused before it can block). The apply, the staging writes and the
  // Primary's reads use these, never the path forms above.
  virtual Result<std::unique_ptr<RandomAccessFile>> OpenForReadAt(const RootDir& root,
                                                                  const std::string& rel) = 0;
  virtual Result<std::unique_ptr<WritableFile>> OpenForWriteAt(const RootDir& root,
                                                               const std::string& rel,
                                                               const OpenWriteOptions& options) = 0;
  virtual Status CopyRangeAt(const RootDir& root, const std::string& src, uint64_t src_offset,
                             const std::string& dst, uint64_t dst_offset, uint64_t len) = 0;

  // The process-wide default: posix (measured faster here; see env.cc). HASYNC_IO=uring|posix
  // forces one (uring when unavailable is an error at first use).
  static Result<Env*> Default();
};

// The portable backend: pread/pwrite and the *at() system calls.
std::unique_ptr<Env> NewPosixEnv();
// The io_uring backend, or an error naming why the probe refused it.
Result<std::unique_ptr<Env>> NewUringEnv();
// True when io_uring can be set up here (kernel, seccomp and RLIMIT_MEMLOCK permitting).
bool UringAvailable();

// Helpers over any Env.
// Reads a whole file: one file's content even when another process replaces it meanwhile.
Result<std::string> ReadFileToString(Env& env, const std::string& path);
// Writes path atomically: a temporary file of this process's own (AtomicTmpName, created
// O_EXCL), fsync, rename, fsync of the directory. Safe to call for one path from several
// processes or threads at once: the path then holds one writer's whole content (the last
// rename's), never a mix. It first removes the stale temporaries of path (RemoveStaleTmpFiles).
Status WriteFileAtomic(Env& env, const std::string& path, std::span<const std::byte> data);
// path + ".tmp-<pid>-<counter>": unique per process and call.
std::string AtomicTmpName(const std::string& path);
// Removes path's temporaries (AtomicTmpName's exact pattern, regular files only) whose process
// is gone, or that are older than a minute; never another name.
void RemoveStaleTmpFiles(Env& env, const std::string& path);
// Removes path and, for a directory, all below it, recursing on directory handles (a directory
// swapped for a symlink loses only the symlink; see RemoveTreeAt). Missing is fine.
Status RemoveTree(Env& env, const std::string& path);
// Creates path and its missing parents.
Status CreateDirs(Env& env, const std::string& path, uint32_t mode);
// Asks the file system to spread dir's subdirectories over its allocation groups as it does for
// top-level directories (ext4's FS_TOPDIR_FL). Only a hint: nothing happens where unsupported.
void HintSpreadSubdirs(const std::string& dir);

}  // namespace hasync
