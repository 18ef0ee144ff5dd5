// The portable Env backend. Its class is visible so the io_uring backend can reuse every
// metadata operation and replace only the data path.
#pragma once

#include <string>

#include "common/env.h"

struct stat;

namespace hasync {

// lstat data as a FileInfo.
FileInfo InfoOfStat(const struct stat& st);

class PosixEnv : public Env {
 public:
  std::string Name() const override { return "posix"; }
  Result<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path,
                                                     const OpenWriteOptions& options) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Result<std::vector<DirEntry>> ListDir(const std::string& path) override;
  Result<std::vector<DirEntryInfo>> ListDirInfo(const std::string& path) override;
  Result<std::string> ReadLink(const std::string& path) override;
  Status CreateDir(const std::string& path, uint32_t mode) override;
  Status RemoveFile(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Link(const std::string& existing, const std::string& new_path) override;
  Status Symlink(const std::string& target, const std::string& link_path) override;
  Status SetMeta(const std::string& path, const MetaOptions& options) override;
  Status SyncDir(const std::string& path) override;
  Status SyncFs(const std::string& path) override;
  Status CopyRange(const std::string& src, uint64_t src_offset, const std::string& dst,
                   uint64_t dst_offset, uint64_t len) override;
  Result<std::unique_ptr<RandomAccessFile>> OpenForReadAt(const RootDir& root,
                                                          const std::string& rel) override;
  Result<std::unique_ptr<WritableFile>> OpenForWriteAt(const RootDir& root, const std::string& rel,
                                                       const OpenWriteOptions& options) override;
  Status CopyRangeAt(const RootDir& root, const std::string& src, uint64_t src_offset,
                     const std::string& dst, uint64_t dst_offset, uint64_t len) override;

 protected:
  // Opens with O_CLOEXEC|O_NOFOLLOW added; returns the fd.
  static Result<int> OpenFd(const std::string& path, int flags, uint32_t mode);
  // Opens rel beneath root (O_NONBLOCK until fstat confirms a regular file); returns the fd.
  static Result<int> OpenRegularAt(const RootDir& root, const std::string& rel, int flags,
                                   uint32_t mode);
  static int WriteFlags(const OpenWriteOptions& options);
};

// An fd owned by a file object; closes on destruction.
class FdHolder {
 public:
  explicit FdHolder(int fd) : fd_(fd) {}
  ~FdHolder();
  FdHolder(const FdHolder&) = delete;
  FdHolder& operator=(const FdHolder&) = delete;
  int fd() const { return fd_; }
  Status CloseFd(const std::string& what);

 private:
  int fd_;
};

// A file read with pread. The io_uring backend derives from it and overrides the reads.
class PosixReadFile : public RandomAccessFile {
 public:
  PosixReadFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Result<size_t> Read(uint64_t offset, std::span<std::byte> buf) override;
  Result<std::vector<FileRange>> Holes(uint64_t begin, uint64_t end) override;

 protected:
  FdHolder fd_;
  std::string path_;
};

// A file written with pwrite; truncate, write-back, fdatasync and close on its fd. The io_uring
// backend derives from it and overrides only the writes: the rest is the same syscall on both.
class PosixWriteFile : public WritableFile {
 public:
  PosixWriteFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override;
  Status Truncate(uint64_t size) override;
  void StartWriteback() override;
  Status Sync() override;
  Status SetMeta(const MetaOptions& options) override;
  Status Close() override;

 protected:
  FdHolder fd_;
  std::string path_;
};

}  // namespace hasync
