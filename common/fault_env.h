// FaultEnv: wraps another Env and injects the failures a real disk produces (as RocksDB's
// FaultInjectionTestFS): a full disk after N bytes, failing fsync, a failing rename. For tests
// only; production code never constructs one.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>

#include "common/env.h"

namespace hasync {

struct FaultOptions {
  // Writes fail with ENOSPC once this many bytes in total would have been written.
  uint64_t no_space_after_bytes = std::numeric_limits<uint64_t>::max();
  // Sync, SyncDir and SyncFs fail with EIO.
  bool fail_sync = false;
  // A rename whose destination contains this text fails with EIO (empty: never).
  std::string fail_rename_to;
};

// Thread-safe, like the Env it wraps.
class FaultEnv : public Env {
 public:
  FaultEnv(Env& base, FaultOptions options) : base_(base), options_(std::move(options)) {}
  std::string Name() const override { return "fault(" + base_.Name() + ")"; }

  uint64_t bytes_written() const { return bytes_written_.load(); }
  // Charges n bytes against the no-space budget; error once exhausted.
  Status ChargeWrite(uint64_t n, const std::string& path);
  Status CheckSync(const std::string& path) const;

  Result<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override {
    return base_.OpenForRead(path);
  }
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path,
                                                     const OpenWriteOptions& options) override;
  Result<FileInfo> Stat(const std::string& path) override { return base_.Stat(path); }
  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    return base_.ListDir(path);
  }
  Result<std::string> ReadLink(const std::string& path) override { return base_.ReadLink(path); }
  Status CreateDir(const std::string& path, uint32_t mode) override {
    return base_.CreateDir(path, mode);
  }
  Status RemoveFile(const std::string& path) override { return base_.RemoveFile(path); }
  Status RemoveDir(const std::string& path) override { return base_.RemoveDir(path); }
  Status Rename(const std::string& from, const std::string& to) override;
  Status Link(const std::string& existing, const std::string& new_path) override {
    return base_.Link(existing, new_path);
  }
  Status Symlink(const std::string& target, const std::string& link_path) override {
    return base_.Symlink(target, link_path);
  }
  Status SetMeta(const std::string& path, const MetaOptions& options) override {
    return base_.SetMeta(path, options);
  }
  Status SyncDir(const std::string& path) override;
  Status SyncFs(const std::string& path) override;
  Status CopyRange(const std::string& src, uint64_t src_offset, const std::string& dst,
                   uint64_t dst_offset, uint64_t len) override;
  Result<std::unique_ptr<RandomAccessFile>> OpenForReadAt(const RootDir& root,
                                                          const std::string& rel) override {
    return base_.OpenForReadAt(root, rel);
  }
  Result<std::unique_ptr<WritableFile>> OpenForWriteAt(const RootDir& root, const std::string& rel,
                                                       const OpenWriteOptions& options) override;
  Status CopyRangeAt(const RootDir& root, const std::string& src, uint64_t src_offset,
                     const std::string& dst, uint64_t dst_offset, uint64_t len) override;

 private:
  Env& base_;
  FaultOptions options_;
  std::atomic<uint64_t> bytes_written_{0};
};

}  // namespace hasync
