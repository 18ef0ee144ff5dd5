// CheckStateFolder: lstat of each path hasync trusts in the state folder. A directory is
// checked through "<dir>/." so a state folder that is a symlink is judged by its target; a
// symlinked file is judged by the folder holding it (whoever can write the folder could have
// made the link), and the file it names is opened by sqlite or ssh as this account would.
#include "engine/state/state_folder.h"

#include <pwd.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace hasync::engine {
namespace {

std::string AccountName(uint32_t uid) {
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

}  // namespace

Status CheckOwnedPath(Env& env, const std::string& path, bool dir) {
  auto info = env.Stat(dir ? path + "/." : path);
  if (!info.ok()) {
    return info.status().code() == Code::kNotFound ? Status::Ok() : info.status();
  }
  if (info->type == FileType::kSymlink) return Status::Ok();
  uint32_t me = ::geteuid();
  if (info->uid != me && info->uid != 0) {
    return Status(Code::kConfig, path + " is owned by " + AccountName(info->uid) +
                                     ", another account, which could change what hasync does " +
                                     "next: make it this account's (chown " + AccountName(me) +
                                     " " + path + ")");
  }
  if ((info->mode & 022) != 0) {
    return Status(Code::kConfig,
                  path + " is writable by " + ((info->mode & 020) ? "its group" : "others") +
                      ", who could change what hasync does next: chmod go-w " + path);
  }
  return Status::Ok();
}

Status CheckStateFolder(Env& env, const Settings& s) {
  const std::string& d = s.state_dir;
  // The journal's name is engine/files/journal.h's JournalPath (a layer above this one).
  const std::vector<std::pair<std::string, bool>> paths = {
      {d, true},
      {d + "/node.db", false},
      {d + "/journal", false},
      {d + "/manifests", true},  // the Secondary's caches; the serve side's live in serve/
      {d + "/ssh", true},
      {d + "/ssh/id_ed25519", false},
      {s.ssh.known_hosts.empty() ? d + "/known_hosts" : s.ssh.known_hosts, false},
  };
  for (const auto& [path, dir] : paths) HASYNC_RETURN_IF_ERROR(CheckOwnedPath(env, path, dir));
  return Status::Ok();
}

}  // namespace hasync::engine
