// FaultEnv: each write is charged against the byte budget before it reaches the real file.
#include "common/fault_env.h"

#include <cerrno>

namespace hasync {
namespace {

class FaultWriteFile : public WritableFile {
 public:
  FaultWriteFile(FaultEnv& env, std::unique_ptr<WritableFile> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}
  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    HASYNC_RETURN_IF_ERROR(env_.ChargeWrite(data.size(), path_));
    return base_->WriteAt(offset, data);
  }
  Status WriteMany(std::span<const WriteOp> ops) override {
    uint64_t n = 0;
    for (const WriteOp& op : ops) n += op.data.size();
    HASYNC_RETURN_IF_ERROR(env_.ChargeWrite(n, path_));
    return base_->WriteMany(ops);
  }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  Status Sync() override {
    HASYNC_RETURN_IF_ERROR(env_.CheckSync(path_));
    return base_->Sync();
  }
  Status SetMeta(const MetaOptions& o) override { return base_->SetMeta(o); }
  void StartWriteback() override { base_->StartWriteback(); }
  Status Close() override { return base_->Close(); }

 private:
  FaultEnv& env_;
  std::unique_ptr<WritableFile> base_;
  std::string path_;
};

}  // namespace

Status FaultEnv::ChargeWrite(uint64_t n, const std::string& path) {
  uint64_t before = bytes_written_.fetch_add(n);
  if (before + n > options_.no_space_after_bytes) {
    return ErrnoStatus("writing " + path + " (injected)", ENOSPC);
  }
  return Status::Ok();
}

Status FaultEnv::CheckSync(const std::string& path) const {
  if (options_.fail_sync) return ErrnoStatus("syncing " + path + " (injected)", EIO);
  return Status::Ok();
}

Result<std::unique_ptr<WritableFile>> FaultEnv::OpenForWrite(const std::string& path,
                                                             const OpenWriteOptions& options) {
  HASYNC_ASSIGN_OR_RETURN(auto file, base_.OpenForWrite(path, options));
  return std::unique_ptr<WritableFile>(new FaultWriteFile(*this, std::move(file), path));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::OpenForWriteAt(const RootDir& root,
                                                               const std::string& rel,
                                                               const OpenWriteOptions& options) {
  HASYNC_ASSIGN_OR_RETURN(auto file, base_.OpenForWriteAt(root, rel, options));
  return std::unique_ptr<WritableFile>(new FaultWriteFile(*this, std::move(file), rel));
}

Status FaultEnv::CopyRangeAt(const RootDir& root, const std::string& src, uint64_t src_offset,
                             const std::string& dst, uint64_t dst_offset, uint64_t len) {
  HASYNC_RETURN_IF_ERROR(ChargeWrite(len, dst));
  return base_.CopyRangeAt(root, src, src_offset, dst, dst_offset, len);
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  if (!options_.fail_rename_to.empty() && to.find(options_.fail_rename_to) != std::string::npos) {
    return ErrnoStatus("renaming " + from + " to " + to + " (injected)", EIO);
  }
  return base_.Rename(from, to);
}

Status FaultEnv::SyncDir(const std::string& path) {
  HASYNC_RETURN_IF_ERROR(CheckSync(path));
  return base_.SyncDir(path);
}

Status FaultEnv::SyncFs(const std::string& path) {
  HASYNC_RETURN_IF_ERROR(CheckSync(path));
  return base_.SyncFs(path);
}

Status FaultEnv::CopyRange(const std::string& src, uint64_t src_offset, const std::string& dst,
                           uint64_t dst_offset, uint64_t len) {
  HASYNC_RETURN_IF_ERROR(ChargeWrite(len, dst));
  return base_.CopyRange(src, src_offset, dst, dst_offset, len);
}

}  // namespace hasync
