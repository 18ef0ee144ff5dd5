// ChangeTracker: which folders of a file root changed, by inotify, so that a scan walks only
// those (snapshot/scanner.h's changed_dirs) instead of the whole root.
//
// Every folder of the root is watched (not the staging folder; excluded ones too, so that the
// marks hold whatever include and exclude settings a scan has), each through
// a handle opened beneath the root (the watch is set on /proc/self/fd/N: no path a local user
// can swap). Each event marks its folder with the next sequence number. A client that scanned
// after the answer (gen, seq) asks again with them and gets the folders marked after seq.
//
// It answers "walk everything" whenever it cannot vouch for the gap: a new generation (a random
// number) starts on every start, on a queue overflow, on a folder renamed or moved (its watches
// would name the old paths), on the root itself moved or unmounted, and on too many marked
// folders; while a watch could not be set (fs.inotify.max_user_watches) it answers untracked
// (generation 0). Writes through a shared mmap raise no inotify event: the scan side walks the
// whole root every [sync] full_scan_every (engine/files/tracked_scan.h) to catch them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/beneath.h"
#include "common/status.h"

struct inotify_event;  // <sys/inotify.h>

namespace hasync::engine {

struct ChangeAnswer {
  uint64_t gen = 0;               // 0: untracked (every scan walks everything)
  uint64_t seq = 0;               // the last sequence number given out
  bool full = true;               // walk the whole root (dirs is then empty)
  std::vector<std::string> dirs;  // folders changed after the asked seq ("" is the root)
  // The root folder the tracker watches: a scan of another folder (the root's path changed,
  // another mount namespace) must not use the answer.
  uint64_t root_dev = 0;
  uint64_t root_ino = 0;
};

class ChangeTracker {
 public:
  // Past this many changed folders an answer says walk everything (and the tracker starts a new
  // generation when it holds more marks than this plus its watches: deleted folders' marks
  // would otherwise grow without bound).
  static constexpr size_t kMaxAnswerDirs = 20000;

  // Starts watching root. kIo when inotify itself is unavailable; a watch that cannot be set
  // leaves it running untracked (it tries again every Tick after retry_ms).
  static Result<std::unique_ptr<ChangeTracker>> Start(const std::string& root);
  ~ChangeTracker();

  int fd() const { return fd_; }
  // Reads every queued event (non-blocking) and applies it. Events queued before the call are
  // all applied when it returns: the kernel queues them within the system call that changed
  // the file, so an answer after Drain covers every change made before the question.
  void Drain();
  // Retries the watches of an untracked tracker; call now and then.
  void Tick();
  // Starts over (a new generation), as on a gap only the caller sees (the mounts changed).
  void Restart(const std::string& why) { Reset(why); }
  // Starts over first when the root's path names another folder than the one watched.
  ChangeAnswer Since(uint64_t gen, uint64_t seq);

  uint64_t gen() const { return gen_; }
  size_t watches() const { return path_of_.size(); }
  // Why it is untracked now, or empty.
  const std::string& untracked_reason() const { return untracked_; }

 private:
  ChangeTracker(std::string root, int fd);
  // A new generation: every watch removed and set again from the root.
  void Reset(const std::string& why);
  // Drops every watch after a failure (untracked_ says why) until the next retry.
  void GoUntracked();
  bool RootMoved() const;
  // Watches rel and every folder below it, marking each; false when a watch could not be set.
  bool WatchTree(const RootDir& root, const std::string& rel);
  void Mark(const std::string& rel);
  void Apply(const ::inotify_event& ev);

  const std::string root_;
  int fd_;
  uint64_t gen_ = 0;
  uint64_t seq_ = 0;
  std::string untracked_;  // non-empty: answer untracked
  int64_t untracked_since_ms_ = 0;
  int64_t retry_ms_ = 0;
  uint64_t root_dev_ = 0;
  uint64_t root_ino_ = 0;
  std::unordered_map<int, std::string> path_of_;      // watch descriptor -> folder
  std::unordered_map<std::string, uint64_t> marked_;  // folder -> seq of its last change
};

}  // namespace hasync::engine
