// The portable backend: pread/pwrite, the *at() calls, O_NOFOLLOW everywhere.
#include "common/posix_env.h"

#include "common/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

namespace hasync {
namespace {

FileType TypeOfMode(mode_t m) {
  if (S_ISREG(m)) return FileType::kRegular;
  if (S_ISDIR(m)) return FileType::kDirectory;
  if (S_ISLNK(m)) return FileType::kSymlink;
  return FileType::kOther;
}

}  // namespace

Result<size_t> PosixReadFile::Read(uint64_t offset, std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd_.fd(), buf.data() + done, buf.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("reading " + path_, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

// Both backends: lseek on the file's own descriptor. A file system without SEEK_DATA (EINVAL)
// has no holes to report.
Result<std::vector<FileRange>> PosixReadFile::Holes(uint64_t begin, uint64_t end) {
  std::vector<FileRange> out;
  struct stat st;
  if (::fstat(fd_.fd(), &st) != 0) return ErrnoStatus("stat " + path_, errno);
  end = std::min<uint64_t>(end, static_cast<uint64_t>(st.st_size));
  // A file whose allocation covers its size has no holes worth asking for: one syscall, not
  // three, for each dense file (most of them).
  if (static_cast<uint64_t>(st.st_blocks) * 512 >= static_cast<uint64_t>(st.st_size)) return out;
  uint64_t pos = begin;
  while (pos < end) {
    off_t data = ::lseek(fd_.fd(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {  // no data from pos to the end of the file
        out.push_back(FileRange{pos, end});
        break;
      }
      if (errno == EINVAL || errno == EOPNOTSUPP) return std::vector<FileRange>{};
      return ErrnoStatus("finding the data of " + path_, errno);
    }
    uint64_t d = static_cast<uint64_t>(data);
    if (d > pos) out.push_back(FileRange{pos, std::min(d, end)});
    if (d >= end) break;
    off_t hole = ::lseek(fd_.fd(), data, SEEK_HOLE);
    if (hole < 0) return ErrnoStatus("finding the holes of " + path_, errno);
    pos = static_cast<uint64_t>(hole);
  }
  return out;
}

Status PosixWriteFile::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_.fd(), data.data() + done, data.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("writing " + path_, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status PosixWriteFile::Truncate(uint64_t size) {
  if (::ftruncate(fd_.fd(), static_cast<off_t>(size)) != 0) {
    return ErrnoStatus("truncating " + path_, errno);
  }
  return Status::Ok();
}

Status PosixWriteFile::SetMeta(const MetaOptions& o) { return SetMetaOnFd(fd_.fd(), path_, o); }

void PosixWriteFile::StartWriteback() { ::sync_file_range(fd_.fd(), 0, 0, SYNC_FILE_RANGE_WRITE); }

Status PosixWriteFile::Sync() {
  if (::fdatasync(fd_.fd()) != 0) return ErrnoStatus("syncing " + path_, errno);
  return Status::Ok();
}

Status PosixWriteFile::Close() { return fd_.CloseFd("closing " + path_); }

namespace {}  // namespace

FdHolder::~FdHolder() {
  if (fd_ >= 0) ::close(fd_);
}

Status FdHolder::CloseFd(const std::string& what) {
  if (fd_ < 0) return Status::Ok();
  int rc = ::close(fd_);
  fd_ = -1;
  // close() may report a deferred write error (NFS, full disk); it is a real failure.
  if (rc != 0 && errno != EINTR) return ErrnoStatus(what, errno);
  return Status::Ok();
}

Result<int> PosixEnv::OpenFd(const std::string& path, int flags, uint32_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoStatus("opening " + path, errno);
  return fd;
}

Result<std::unique_ptr<RandomAccessFile>> PosixEnv::OpenForRead(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY, 0));
  return std::unique_ptr<RandomAccessFile>(new PosixReadFile(fd, path));
}

int PosixEnv::WriteFlags(const OpenWriteOptions& o) {
  int flags = O_WRONLY;
  if (o.create) flags |= O_CREAT;
  if (o.truncate) flags |= O_TRUNC;
  if (o.exclusive) flags |= O_EXCL;
  return flags;
}

Result<std::unique_ptr<WritableFile>> PosixEnv::OpenForWrite(const std::string& path,
                                                             const OpenWriteOptions& o) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, WriteFlags(o), o.mode));
  return std::unique_ptr<WritableFile>(new PosixWriteFile(fd, path));
}

// O_TRUNC waits until fstat has confirmed a regular file, so nothing else is truncated; the
// O_NONBLOCK that kept a FIFO from blocking the open is cleared again (io_uring would return
// EAGAIN on a non-blocking file instead of waiting for the disk).
Result<int> PosixEnv::OpenRegularAt(const RootDir& root, const std::string& rel, int flags,
                                    uint32_t mode) {
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
    // Created by this open or refused (EEXIST, also for a symlink or a FIFO at rel): a new,
    // empty regular file, with nothing to check or truncate.
    HASYNC_ASSIGN_OR_RETURN(UniqueFd fd, root.OpenFd(rel, flags & ~O_TRUNC, mode));
    return fd.Release();
  }
  HASYNC_ASSIGN_OR_RETURN(UniqueFd fd, root.OpenFd(rel, (flags & ~O_TRUNC) | O_NONBLOCK, mode));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat " + root.Describe(rel), errno);
  if (!S_ISREG(st.st_mode)) {
    return Status(Code::kUnsafePath, "refused " + root.Describe(rel) + ": not a regular file");
  }
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
    return ErrnoStatus("opening " + root.Describe(rel), errno);
  }
  if ((flags & O_TRUNC) && ::ftruncate(fd.get(), 0) != 0) {
    return ErrnoStatus("truncating " + root.Describe(rel), errno);
  }
  return fd.Release();
}

Result<std::unique_ptr<RandomAccessFile>> PosixEnv::OpenForReadAt(const RootDir& root,
                                                                  const std::string& rel) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenRegularAt(root, rel, O_RDONLY, 0));
  return std::unique_ptr<RandomAccessFile>(new PosixReadFile(fd, root.Describe(rel)));
}

Result<std::unique_ptr<WritableFile>> PosixEnv::OpenForWriteAt(const RootDir& root,
                                                               const std::string& rel,
                                                               const OpenWriteOptions& o) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenRegularAt(root, rel, WriteFlags(o), o.mode));
  return std::unique_ptr<WritableFile>(new PosixWriteFile(fd, root.Describe(rel)));
}

FileInfo InfoOfStat(const struct stat& st) {
  FileInfo info;
  info.type = TypeOfMode(st.st_mode);
  info.mode = st.st_mode & 07777;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  info.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  info.inode = st.st_ino;
  info.device = st.st_dev;
  info.nlink = st.st_nlink;
  return info;
}

Result<FileInfo> PosixEnv::Stat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  return InfoOfStat(st);
}

namespace {
// Calls fn(fd, name, d_type) for each entry of the directory open as fd (path names it in
// errors) but "." and "..", in readdir order; closes fd.
Status ForEachEntry(
    int fd, const std::string& path,
    const std::function<Status(int fd, const char* name, unsigned char d_type)>& fn) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("listing " + path, err);
  }
  Status st;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) st = ErrnoStatus("listing " + path, errno);
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    st = fn(fd, e->d_name, e->d_type);
    if (!st.ok()) break;
  }
  ::closedir(dir);
  return st;
}
}  // namespace

Result<std::vector<DirEntryInfo>> PosixEnv::ListDirInfo(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(int dir_fd, OpenFd(path, O_RDONLY | O_DIRECTORY, 0));
  std::vector<DirEntryInfo> out;
  HASYNC_RETURN_IF_ERROR(ForEachEntry(dir_fd, path, [&](int fd, const char* name, unsigned char) {
    struct stat st;
    if (::fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Status::Ok();  // gone since readdir: not part of this scan
      return ErrnoStatus("stat " + path + "/" + name, errno);
    }
    out.push_back(DirEntryInfo{name, InfoOfStat(st)});
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<DirEntry>> PosixEnv::ListDir(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(int dir_fd, OpenFd(path, O_RDONLY | O_DIRECTORY, 0));
  std::vector<DirEntry> out;
  HASYNC_RETURN_IF_ERROR(
      ForEachEntry(dir_fd, path, [&](int, const char* name, unsigned char d_type) {
        FileType t = FileType::kOther;
        if (d_type == DT_REG) t = FileType::kRegular;
        if (d_type == DT_DIR) t = FileType::kDirectory;
        if (d_type == DT_LNK) t = FileType::kSymlink;
        out.push_back(DirEntry{name, t});
        return Status::Ok();
      }));
  return out;
}

Result<std::string> PosixEnv::ReadLink(const std::string& path) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return ErrnoStatus("readlink " + path, errno);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

#define HASYNC_SYSCALL(call, what) \
  if ((call) != 0) return ErrnoStatus(what, errno);

Status PosixEnv::CreateDir(const std::string& path, uint32_t mode) {
  HASYNC_SYSCALL(::mkdir(path.c_str(), mode), "creating directory " + path);
  return Status::Ok();
}
Status PosixEnv::RemoveFile(const std::string& path) {
  HASYNC_SYSCALL(::unlink(path.c_str()), "removing " + path);
  return Status::Ok();
}
Status PosixEnv::RemoveDir(const std::string& path) {
  HASYNC_SYSCALL(::rmdir(path.c_str()), "removing directory " + path);
  return Status::Ok();
}
Status PosixEnv::Rename(const std::string& from, const std::string& to) {
  HASYNC_SYSCALL(::rename(from.c_str(), to.c_str()), "renaming " + from + " to " + to);
  return Status::Ok();
}
Status PosixEnv::Link(const std::string& existing, const std::string& new_path) {
  HASYNC_SYSCALL(::linkat(AT_FDCWD, existing.c_str(), AT_FDCWD, new_path.c_str(), 0),
                 "linking " + new_path + " to " + existing);
  return Status::Ok();
}
Status PosixEnv::Symlink(const std::string& target, const std::string& link_path) {
  HASYNC_SYSCALL(::symlink(target.c_str(), link_path.c_str()), "creating symlink " + link_path);
  return Status::Ok();
}

Status PosixEnv::SetMeta(const std::string& path, const MetaOptions& o) {
  if (o.set_owner) {
    HASYNC_SYSCALL(::lchown(path.c_str(), o.uid, o.gid), "setting owner of " + path);
  }
  if (o.set_mode) {
    // After chown, which clears set-id bits. fchmodat cannot skip symlinks on Linux, so the
    // caller never asks for a symlink's mode.
    HASYNC_SYSCALL(::fchmodat(AT_FDCWD, path.c_str(), o.mode & 07777, 0),
                   "setting mode of " + path);
  }
  if (o.set_mtime) {
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = o.mtime_ns / 1000000000;
    ts[1].tv_nsec = o.mtime_ns % 1000000000;
    if (ts[1].tv_nsec < 0) {
      ts[1].tv_nsec += 1000000000;
      ts[1].tv_sec -= 1;
    }
    HASYNC_SYSCALL(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW),
                   "setting mtime of " + path);
  }
  return Status::Ok();
}

Status PosixEnv::SyncDir(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY | O_DIRECTORY, 0));
  FdHolder holder(fd);
  HASYNC_SYSCALL(::fsync(fd), "syncing directory " + path);
  return holder.CloseFd("closing " + path);
}

Status PosixEnv::SyncFs(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY | O_DIRECTORY, 0));
  FdHolder holder(fd);
  HASYNC_SYSCALL(::syncfs(fd), "syncing the file system of " + path);
  return holder.CloseFd("closing " + path);
}

namespace {
// copy_file_range until len bytes moved; `what` names the pair in errors.
Status CopyBetween(int in, uint64_t src_offset, int out, uint64_t dst_offset, uint64_t len,
                   const std::string& what) {
  auto in_off = static_cast<loff_t>(src_offset);
  auto out_off = static_cast<loff_t>(dst_offset);
  while (len > 0) {
    ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what, errno);
    }
    if (n == 0) return Status(Code::kIo, what + ": file shrank underneath");
    len -= static_cast<uint64_t>(n);
  }
  return Status::Ok();
}
}  // namespace

Status PosixEnv::CopyRange(const std::string& src, uint64_t src_offset, const std::string& dst,
                           uint64_t dst_offset, uint64_t len) {
  HASYNC_ASSIGN_OR_RETURN(int in, OpenFd(src, O_RDONLY, 0));
  FdHolder in_holder(in);
  HASYNC_ASSIGN_OR_RETURN(int out, OpenFd(dst, O_WRONLY, 0));
  FdHolder out_holder(out);
  HASYNC_RETURN_IF_ERROR(
      CopyBetween(in, src_offset, out, dst_offset, len, "copying from " + src + " to " + dst));
  return out_holder.CloseFd("closing " + dst);
}

Status PosixEnv::CopyRangeAt(const RootDir& root, const std::string& src, uint64_t src_offset,
                             const std::string& dst, uint64_t dst_offset, uint64_t len) {
  HASYNC_ASSIGN_OR_RETURN(int in, OpenRegularAt(root, src, O_RDONLY, 0));
  FdHolder in_holder(in);
  HASYNC_ASSIGN_OR_RETURN(int out, OpenRegularAt(root, dst, O_WRONLY, 0));
  FdHolder out_holder(out);
  HASYNC_RETURN_IF_ERROR(CopyBetween(in, src_offset, out, dst_offset, len,
                                     "copying from " + root.Describe(src) + " to " + dst));
  return out_holder.CloseFd("closing " + root.Describe(dst));
}

std::unique_ptr<Env> NewPosixEnv() { return std::make_unique<PosixEnv>(); }

void HintSpreadSubdirs(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    flags |= FS_TOPDIR_FL;
    (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  ::close(fd);
}

}  // namespace hasync
