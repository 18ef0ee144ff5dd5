// The io_uring backend: the data path (reads and writes) goes through one ring per thread, so a
// batch of block reads or writes costs one system call instead of one per block. Metadata calls
// are the portable backend's: io_uring offers no gain for a single stat or rename.
// Opening beneath a root (OpenForReadAt/OpenForWriteAt) is the portable backend's resolver too:
// this backend does not use IORING_OP_OPENAT2. An open is one call either way, so the ring
// would gain nothing, and one resolver shared by both backends (with its probe, its walk
// fallback and its tests) is one place to get the security check right; the ring only takes
// over the fd once it is open.
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "common/beneath.h"
#include "common/posix_env.h"

namespace hasync {
namespace {

constexpr unsigned kRingDepth = 64;

// One ring per thread: rings are not thread-safe, and a file object is used by one thread at a
// time, so a thread-local ring needs no locking.
struct Ring {
  io_uring ring;
  int init_error = 0;
  Ring() { init_error = -io_uring_queue_init(kRingDepth, &ring, 0); }
  ~Ring() {
    if (init_error == 0) io_uring_queue_exit(&ring);
  }
};

Result<io_uring*> ThreadRing() {
  thread_local Ring r;
  if (r.init_error != 0) return ErrnoStatus("io_uring setup", r.init_error);
  return &r.ring;
}

// Runs a batch of reads or writes on fd: each op is (offset, pointer, length, done). Short
// transfers are resubmitted for the rest; a read that returns 0 stops at end of file.
struct Op {
  uint64_t offset;
  std::byte* data;
  size_t len;
  size_t done;
  bool eof;
};

Status RunBatch(int fd, std::vector<Op>& ops, bool write, const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(io_uring * ring, ThreadRing());
  size_t next = 0;
  size_t inflight = 0;
  auto pending = [&](const Op& op) { return !op.eof && op.done < op.len; };
  std::vector<size_t> queue;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (pending(ops[i])) queue.push_back(i);
  }
  Status first_error;
  while (next < queue.size() || inflight > 0) {
    while (next < queue.size() && inflight < kRingDepth) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (sqe == nullptr) break;
      Op& op = ops[queue[next]];
      if (write) {
        io_uring_prep_write(sqe, fd, op.data + op.done, static_cast<unsigned>(op.len - op.done),
                            op.offset + op.done);
      } else {
        io_uring_prep_read(sqe, fd, op.data + op.done, static_cast<unsigned>(op.len - op.done),
                           op.offset + op.done);
      }
      io_uring_sqe_set_data64(sqe, queue[next]);
      ++next;
      ++inflight;
    }
    int rc = io_uring_submit_and_wait(ring, 1);
    if (rc < 0 && rc != -EINTR) return ErrnoStatus("io_uring submit", -rc);
    io_uring_cqe* cqe;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      ++seen;
      --inflight;
      Op& op = ops[io_uring_cqe_get_data64(cqe)];
      int res = cqe->res;
      if (res == -EINTR || res == -EAGAIN) {
        queue.push_back(io_uring_cqe_get_data64(cqe));
      } else if (res < 0) {
        if (first_error.ok())
          first_error = ErrnoStatus((write ? "writing " : "reading ") + path, -res);
      } else if (res == 0) {
        if (write) {
          if (first_error.ok())
            first_error = Status(Code::kIo, "writing " + path + ": no progress");
        } else {
          op.eof = true;
        }
      } else {
        op.done += static_cast<size_t>(res);
        if (op.done < op.len) queue.push_back(io_uring_cqe_get_data64(cqe));
      }
    }
    io_uring_cq_advance(ring, seen);
    if (!first_error.ok() && inflight == 0) return first_error;
    if (!first_error.ok()) next = queue.size();  // drain what is in flight, submit nothing new
  }
  return first_error;
}

class UringReadFile : public PosixReadFile {
 public:
  using PosixReadFile::PosixReadFile;
  Result<size_t> Read(uint64_t offset, std::span<std::byte> buf) override {
    ReadOp op{offset, buf, 0};
    HASYNC_RETURN_IF_ERROR(ReadMany(std::span<ReadOp>(&op, 1)));
    return op.done;
  }
  Status ReadMany(std::span<ReadOp> reads) override {
    std::vector<ReadRun> runs = CoalesceReads(reads);
    std::vector<Op> ops;
    ops.reserve(runs.size());
    for (const ReadRun& r : runs) ops.push_back(Op{r.offset, r.buf.data(), r.buf.size(), 0, false});
    HASYNC_RETURN_IF_ERROR(RunBatch(fd_.fd(), ops, false, path_));
    for (size_t i = 0; i < runs.size(); ++i) SetRunDone(reads, runs[i], ops[i].done);
    return Status::Ok();
  }
};

// Truncate, StartWriteback, Sync and Close are the portable backend's (the same syscalls).
class UringWriteFile : public PosixWriteFile {
 public:
  using PosixWriteFile::PosixWriteFile;
  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    WriteOp op{offset, data};
    return WriteMany(std::span<const WriteOp>(&op, 1));
  }
  Status WriteMany(std::span<const WriteOp> writes) override {
    std::vector<Op> ops;
    ops.reserve(writes.size());
    for (const WriteOp& w : writes) {
      ops.push_back(Op{w.offset, const_cast<std::byte*>(w.data.data()), w.data.size(), 0, false});
    }
    return RunBatch(fd_.fd(), ops, true, path_);
  }
};

// One read or write on a stream (pipe, socket) through this thread's ring.
ssize_t StreamOp(int fd, std::byte* data, size_t len, bool write) {
  auto ring = ThreadRing();
  if (!ring.ok()) return write ? ::write(fd, data, len) : ::read(fd, data, len);
  for (;;) {
    io_uring_sqe* sqe = io_uring_get_sqe(*ring);
    if (sqe == nullptr) return -EBUSY;
    // Offset -1: the stream's own position (pipes and sockets have none to give).
    if (write) {
      io_uring_prep_write(sqe, fd, data, static_cast<unsigned>(len), static_cast<uint64_t>(-1));
    } else {
      io_uring_prep_read(sqe, fd, data, static_cast<unsigned>(len), static_cast<uint64_t>(-1));
    }
    int rc = io_uring_submit_and_wait(*ring, 1);
    if (rc < 0 && rc != -EINTR) return rc;
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_wait_cqe(*ring, &cqe);
    if (rc < 0) return rc;
    int res = cqe->res;
    io_uring_cqe_seen(*ring, cqe);
    if (res == -EINTR || res == -EAGAIN) continue;
    return res;
  }
}

class UringEnv : public PosixEnv {
 public:
  std::string Name() const override { return "uring"; }
  ssize_t ReadStream(int fd, std::span<std::byte> buf) override {
    return StreamOp(fd, buf.data(), std::min<size_t>(buf.size(), 1u << 30), false);
  }
  ssize_t WriteStream(int fd, std::span<const std::byte> data) override {
    return StreamOp(fd, const_cast<std::byte*>(data.data()),
                    std::min<size_t>(data.size(), 1u << 30), true);
  }
  Result<std::unique_ptr<RandomAccessFile>> OpenForRead(const std::string& path) override {
    HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, O_RDONLY, 0));
    return std::unique_ptr<RandomAccessFile>(new UringReadFile(fd, path));
  }
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path,
                                                     const OpenWriteOptions& o) override {
    int flags = O_WRONLY;
    if (o.create) flags |= O_CREAT;
    if (o.truncate) flags |= O_TRUNC;
    if (o.exclusive) flags |= O_EXCL;
    HASYNC_ASSIGN_OR_RETURN(int fd, OpenFd(path, flags, o.mode));
    return std::unique_ptr<WritableFile>(new UringWriteFile(fd, path));
  }
  Result<std::unique_ptr<RandomAccessFile>> OpenForReadAt(const RootDir& root,
                                                          const std::string& rel) override {
    HASYNC_ASSIGN_OR_RETURN(int fd, OpenRegularAt(root, rel, O_RDONLY, 0));
    return std::unique_ptr<RandomAccessFile>(new UringReadFile(fd, root.Describe(rel)));
  }
  Result<std::unique_ptr<WritableFile>> OpenForWriteAt(const RootDir& root, const std::string& rel,
                                                       const OpenWriteOptions& o) override {
    HASYNC_ASSIGN_OR_RETURN(int fd, OpenRegularAt(root, rel, WriteFlags(o), o.mode));
    return std::unique_ptr<WritableFile>(new UringWriteFile(fd, root.Describe(rel)));
  }
};

}  // namespace

bool UringAvailable() {
  // The probe: a ring can be set up (kernel, seccomp, memlock) and supports plain read/write.
  io_uring ring;
  if (io_uring_queue_init(4, &ring, 0) != 0) return false;
  bool ok = false;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    ok = io_uring_opcode_supported(probe, IORING_OP_READ) &&
         io_uring_opcode_supported(probe, IORING_OP_WRITE);
    io_uring_free_probe(probe);
  }
  io_uring_queue_exit(&ring);
  return ok;
}

Result<std::unique_ptr<Env>> NewUringEnv() {
  if (!UringAvailable()) {
    return Status(Code::kIo, "io_uring is not usable here (kernel, seccomp or memlock limit)");
  }
  return std::unique_ptr<Env>(new UringEnv());
}

}  // namespace hasync
