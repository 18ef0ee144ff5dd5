// The portable Env backend. Its class is visible so the io_uring backend can reuse every
// metadata operation and replace only the data path.
#pragma once

#include <string>

#include "common/env.h"

namespace hasync {

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

 protected:
  // Opens with O_CLOEXEC|O_NOFOLLOW added; returns the fd.
  static Result<int> OpenFd(const std::string& path, int flags, uint32_t mode);
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

}  // namespace hasync
