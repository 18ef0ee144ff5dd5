// The Secondary's receiver: takes the Primary's decoded file data, deltas and file-done
// messages, checks every block against its hash before anything is written (invariant 2),
// and writes staged files (or the redo log of in-place files) through the Env. Writes,
// delta rebuilds and file completion run on a shard pool (one thread per core, sharded by
// file) while the session's thread reads and checks the next frames.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/shard_pool.h"
#include "common/status.h"
#include "engine/files/journal.h"
#include "engine/files/plan.h"
#include "engine/files/progress.h"
#include "engine/files/staging.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {

// One requested file. Created by the session before the transfer; afterwards its fields are
// touched only by the task of its shard (or by the session's thread for in-place files, which
// run inline), until the receiver has drained.
struct FileJob {
  Action* action = nullptr;
  std::string target;  // absolute final path
  std::string staged;  // absolute staged path (not in place)
  uint64_t size = 0;   // as received (file done)
  int64_t mtime_ns = 0;
  std::vector<uint64_t> hashes;  // block hashes: the Secondary's own first, then as received
  std::vector<bool> got;
  std::vector<bool> hole;       // blocks the Primary sent as a hole (empty: none)
  uint64_t hole_end = 0;        // the end of the last hole, which must lie inside the file
  uint64_t short_hole_end = 0;  // the earliest hole ending in a short block: must end the file
  std::unique_ptr<WritableFile> out;
  uint64_t out_end = 0;                     // the staged file's size: the end of its furthest write
  std::vector<BlockRun> runs;               // in place: where the redo log's bytes go
  std::unique_ptr<RandomAccessFile> basis;  // kDelta: the old file the deltas copy from
  bool done = false;
  bool vanished = false;  // gone on the Primary after its scan: left as it was
};

struct ReceiverOptions {
  unsigned threads = 1;                // shards
  uint64_t queue_bytes = 64ull << 20;  // received data waiting for the shards, at most
  bool set_owner = false;              // running as root: ownership is replicated
};

// Not thread-safe: one session thread calls it; its tasks run on the pool.
class Receiver {
 public:
  Receiver(Env& env, const StagingArea& staging, const ReceiverOptions& options);
  ~Receiver();

  // Registers a job before Start; its id (the request's id) is its index.
  uint32_t Add(std::unique_ptr<FileJob> job);
  // Starts the shards; progress (optional) counts bytes and files as they arrive.
  void Start(Progress* progress);
  // Stops counting into the progress given to Start (before it goes).
  void DetachProgress() { progress_ = nullptr; }

  // One message each; the payload is the frame's (the tasks keep it alive).
  Status OnData(std::shared_ptr<std::vector<std::byte>> payload);
  Status OnDelta(std::shared_ptr<std::vector<std::byte>> payload);
  Status OnDone(std::span<const std::byte> payload);
  // A hole (blocks of zeros the Primary does not send): nothing is written in a staged file.
  Status OnHole(std::span<const std::byte> payload);
  // The Primary's done: waits for the shards, then requires every job to be done.
  Status OnEnd();
  // After the transfer: closes the redo logs.
  Status CloseRedo();
  // Stops the shards and closes every file (before the staging folders go).
  void Stop();

  std::vector<std::unique_ptr<FileJob>>& jobs() { return jobs_; }
  const std::vector<std::unique_ptr<FileJob>>& jobs() const { return jobs_; }
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t bytes_changed() const { return bytes_changed_; }
  uint64_t vanished() const { return vanished_; }

 private:
  struct Redo {
    std::string path;
    std::unique_ptr<WritableFile> file;
    uint64_t size = 0;
  };

  Result<FileJob*> Find(uint32_t id);
  Result<FileJob*> CheckData(const FileData& d);
  Status ApplyData(FileJob& j, const FileData& d);
  Status ApplyDeltaRange(FileJob& j, const FileDelta& d);
  Status ApplyHole(FileJob& j, const FileHole& h);
  Status WriteNonZero(FileJob& j, uint64_t at, std::span<const std::byte> data);
  Status AppendRedo(FileJob& j, uint64_t offset, std::span<const std::byte> data);
  Status FinishFile(FileJob& j, const FileDone& d);
  Status CopyUnsentBlocks(FileJob& j, uint64_t nb);
  Status CopyOldRange(FileJob& j, uint64_t off, uint64_t len);
  Status OpenStaged(FileJob& j);

  Env& env_;
  const StagingArea& staging_;
  ReceiverOptions options_;
  std::vector<std::unique_ptr<FileJob>> jobs_;
  // Declared after jobs_: the shards stop before the jobs go.
  std::unique_ptr<ShardPool> pool_;
  // Per root; the session's thread only (in-place files run inline).
  std::map<uint32_t, Redo> redo_;
  Progress* progress_ = nullptr;
  uint64_t total_bytes_ = 0;
  uint64_t bytes_changed_ = 0;
  uint64_t vanished_ = 0;
};

// A file may grow on the Primary between its scan and its transfer, but not without bound: a
// peer cannot make this side allocate for a file far larger than the one listed (twice its
// listed size, or 64 MiB more).
Status CheckGrowth(const std::string& path, uint64_t listed_size, uint64_t end_offset);

// The metadata a staged entry gets from the Primary's entry.
MetaOptions MetaFor(const WireEntry& r, int64_t mtime_ns, bool symlink, bool set_owner);

}  // namespace hasync::engine
