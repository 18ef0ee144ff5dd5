// Env helpers over any backend, and the choice of the default backend.
#include "common/env.h"

#include <fcntl.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/beneath.h"

namespace hasync {

std::vector<ReadRun> CoalesceReads(std::span<ReadOp> ops) {
  std::vector<ReadRun> runs;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!runs.empty()) {
      ReadRun& r = runs.back();
      if (r.offset + r.buf.size() == ops[i].offset &&
          r.buf.data() + r.buf.size() == ops[i].buf.data()) {
        r.buf = std::span<std::byte>(r.buf.data(), r.buf.size() + ops[i].buf.size());
        ++r.count;
        continue;
      }
    }
    runs.push_back(ReadRun{i, 1, ops[i].offset, ops[i].buf});
  }
  return runs;
}

void SetRunDone(std::span<ReadOp> ops, const ReadRun& run, size_t done) {
  for (size_t i = run.first; i < run.first + run.count; ++i) {
    ops[i].done = std::min(done, ops[i].buf.size());
    done -= ops[i].done;
  }
}

Result<std::vector<FileRange>> RandomAccessFile::Holes(uint64_t, uint64_t) {
  return std::vector<FileRange>{};
}

Status RandomAccessFile::ReadMany(std::span<ReadOp> ops) {
  for (const ReadRun& run : CoalesceReads(ops)) {
    HASYNC_ASSIGN_OR_RETURN(size_t done, Read(run.offset, run.buf));
    SetRunDone(ops, run, done);
  }
  return Status::Ok();
}

Status WritableFile::WriteMany(std::span<const WriteOp> ops) {
  for (const WriteOp& op : ops) HASYNC_RETURN_IF_ERROR(WriteAt(op.offset, op.data));
  return Status::Ok();
}

Result<std::vector<DirEntryInfo>> Env::ListDirInfo(const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(auto names, ListDir(path));
  std::vector<DirEntryInfo> out;
  out.reserve(names.size());
  for (DirEntry& d : names) {
    auto info = Stat(path + "/" + d.name);
    if (!info.ok()) {
      if (info.status().code() == Code::kNotFound) continue;
      return info.status();
    }
    out.push_back(DirEntryInfo{std::move(d.name), *info});
  }
  return out;
}

ssize_t Env::ReadStream(int fd, std::span<std::byte> buf) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0 || errno != EINTR) return n >= 0 ? n : -errno;
  }
}

ssize_t Env::WriteStream(int fd, std::span<const std::byte> data) {
  for (;;) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n >= 0 || errno != EINTR) return n >= 0 ? n : -errno;
  }
}

Result<Env*> Env::Default() {
  static std::once_flag once;
  static std::unique_ptr<Env> env;
  static Status error;
  std::call_once(once, [] {
    const char* forced = std::getenv("HASYNC_IO");
    std::string choice = forced ? forced : "";
    if (choice == "posix") {
      env = NewPosixEnv();
    } else if (choice == "uring") {
      auto r = NewUringEnv();
      if (r.ok()) {
        env = std::move(r).value();
      } else {
        error = r.status().Context("HASYNC_IO=uring");
      }
    } else if (choice.empty()) {
      // The portable backend by default, on measurement (docs/benchmarks.md, 2026-12-02): on
      // small files io_uring's one submission per read or write costs more than the pread or
      // pwrite it replaces (50,000 files of 0-511 bytes: 5.0 s against 3.9 s), and on large
      // ones it was no faster (515 MiB: 0.98-1.38 s against 0.93-1.09 s).
      env = NewPosixEnv();
    } else {
      error = Status(Code::kConfig, "HASYNC_IO must be 'uring' or 'posix', not '" + choice + "'");
    }
  });
  if (!error.ok()) return error;
  return env.get();
}

// Reads until a short read rather than trusting a size stat'ed beforehand: the file may be
// replaced by a rename between the stat and the open (WriteFileAtomic in another process), and
// the open file is then the new one, which may be longer. What is read is always one whole file.
Result<std::string> ReadFileToString(Env& env, const std::string& path) {
  HASYNC_ASSIGN_OR_RETURN(FileInfo info, env.Stat(path));
  HASYNC_ASSIGN_OR_RETURN(auto file, env.OpenForRead(path));
  std::string out(std::max<uint64_t>(info.size + 1, 4096), '\0');
  size_t have = 0;
  for (;;) {
    std::span<char> rest(out.data() + have, out.size() - have);
    HASYNC_ASSIGN_OR_RETURN(size_t n, file->Read(have, std::as_writable_bytes(rest)));
    have += n;
    if (n < rest.size()) break;
    out.resize(out.size() * 2);
  }
  out.resize(have);
  return out;
}

static std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

static std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

constexpr char kTmpInfix[] = ".tmp-";
// A temporary file older than this is stale even if its pid is alive (a reused pid).
constexpr int64_t kStaleTmpNs = int64_t{60} * 1000 * 1000 * 1000;

std::atomic<uint64_t> tmp_counter{0};

// The pid in `name` if it is `base` + ".tmp-" + <pid> + "-" + <counter> (both decimal), else 0.
pid_t TmpPid(const std::string& name, const std::string& base) {
  std::string prefix = base + kTmpInfix;
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  std::string rest = name.substr(prefix.size());
  size_t dash = rest.find('-');
  auto digits = [](const std::string& v) {
    return !v.empty() && v.size() <= 19 &&
           std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (dash == std::string::npos || !digits(rest.substr(0, dash)) ||
      !digits(rest.substr(dash + 1))) {
    return 0;
  }
  long long pid = std::stoll(rest.substr(0, dash));
  return pid > 0 && pid <= INT32_MAX ? static_cast<pid_t>(pid) : 0;
}

}  // namespace

std::string AtomicTmpName(const std::string& path) {
  return path + kTmpInfix + std::to_string(::getpid()) + "-" +
         std::to_string(tmp_counter.fetch_add(1, std::memory_order_relaxed));
}

// Only names of the exact pattern for this path, and only regular files: one whose writer is
// gone (its pid no longer exists) or that is older than a minute. A live writer's file is left
// alone, so two processes cleaning at once never take each other's file mid-write.
void RemoveStaleTmpFiles(Env& env, const std::string& path) {
  std::string dir = DirName(path);
  std::string base = BaseName(path);
  auto entries = env.ListDirInfo(dir);
  if (!entries.ok()) return;
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (const DirEntryInfo& e : *entries) {
    pid_t pid = TmpPid(e.name, base);
    if (pid == 0 || e.info.type != FileType::kRegular) continue;
    bool dead = pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (dead || now - e.info.mtime_ns > kStaleTmpNs) (void)env.RemoveFile(dir + "/" + e.name);
  }
}

// The temporary name is this process's own (pid and a counter, created O_EXCL): two writers of
// one path, in two processes (two serve sessions) or two threads, never write into one file,
// and the rename makes the last writer's whole file the path's content.
Status WriteFileAtomic(Env& env, const std::string& path, std::span<const std::byte> data) {
  RemoveStaleTmpFiles(env, path);
  std::string tmp;
  std::unique_ptr<WritableFile> file;
  for (int attempt = 0;; ++attempt) {
    tmp = AtomicTmpName(path);
    auto f = env.OpenForWrite(tmp, OpenWriteOptions{.exclusive = true, .mode = 0600});
    if (f.ok()) {
      file = std::move(f).value();
      break;
    }
    // Taken only by a file a dead process with this pid left: the next counter is free.
    if (attempt >= 8 || !env.Stat(tmp).ok()) return f.status();
  }
  Status st = file->WriteAt(0, data);
  if (st.ok()) st = file->Sync();
  Status close_st = file->Close();
  if (st.ok()) st = close_st;
  if (st.ok()) st = env.Rename(tmp, path);
  if (!st.ok()) {
    (void)env.RemoveFile(tmp);
    return st;
  }
  return env.SyncDir(DirName(path));
}

// The caller's path names a trusted parent (a root, the state folder); below it the walk holds
// directory handles, so a subfolder swapped for a symlink cannot take it outside (the rm -rf
// race). Not through the Env: removal has no data path to hand to a ring.
Status RemoveTree(Env&, const std::string& path) {
  std::string parent = DirName(path);
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::Ok() : ErrnoStatus("opening " + parent, errno);
  UniqueFd dir(fd);
  return RemoveTreeAt(dir.get(), name, path);
}

Status CreateDirs(Env& env, const std::string& path, uint32_t mode) {
  auto info = env.Stat(path);
  if (info.ok()) {
    if (info->type == FileType::kDirectory) return Status::Ok();
    return Status(Code::kIo, path + " exists and is not a directory");
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") {
    HASYNC_RETURN_IF_ERROR(CreateDirs(env, parent, mode));
  }
  Status st = env.CreateDir(path, mode);
  if (!st.ok() && env.Stat(path).ok()) return Status::Ok();  // lost a race: fine
  return st;
}

}  // namespace hasync
