// The change feed: the daemon's ChangeTrackers (engine/files/change_tracker.h), one per file
// root, answering on <state_dir>/changes.sock which folders changed since a scan.
//
// The daemon (root) owns the trackers; a scan anywhere on the node (the Secondary's sync, the
// serve side an sshd starts as [ssh] user, verify) asks it. The feed only answers: a client
// cannot change what it tracks. A client accepts an answer only from a peer of uid 0 or its
// own (SO_PEERCRED): the socket is in the root-owned state folder, where no other account can
// bind one. The daemon answers only uid 0, its own and [ssh] user's: the folders' names are no
// one else's business. Whatever goes wrong (no daemon, a timeout, a malformed answer), the
// client walks the whole root.
//
// Protocol (one question per connection; text, then NUL-separated folder names):
//   question: "HASYNC-CHANGES 1\n" <root name> "\n" <gen> " " <seq> "\n"
//   answer:   "UNTRACKED\n" | "FULL " <gen> " " <seq> " " <dev> " " <ino> "\n" |
//             "SINCE " <gen> " " <seq> " " <dev> " " <ino> " " <count> "\n" then count folder
//             names, each NUL-ended; dev and ino are the watched root folder's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/files/change_tracker.h"

namespace hasync::engine {

std::string ChangeSocketPath(const std::string& state_dir);

class ChangeFeed {
 public:
  // Starts a tracker per root of s and the socket's thread. kIo when the socket cannot be made;
  // a root whose tracker cannot start is answered untracked.
  static Result<std::unique_ptr<ChangeFeed>> Start(const Settings& s);
  ~ChangeFeed();  // stops the thread, removes the socket

 private:
  ChangeFeed() = default;
  void Run();
  void Answer(int conn);

  std::vector<std::string> names_;
  std::vector<std::string> paths_;
  // Made by the thread (Run); null: untracked. Until it has made them it answers no one.
  std::vector<std::unique_ptr<ChangeTracker>> trackers_;
  std::set<uint32_t> refused_uids_;
  std::vector<uint32_t> allowed_uids_;
  std::string path_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd
  std::thread thread_;
};

// Asks the daemon's feed what changed in root `root_name` since (gen, seq). kUnavailable when
// no daemon answers in time or the answer is not to be trusted (the caller walks everything).
Result<ChangeAnswer> AskChanges(const std::string& state_dir, const std::string& root_name,
                                uint64_t gen, uint64_t seq);

}  // namespace hasync::engine
