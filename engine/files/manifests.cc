// NewLocalManifest: the Secondary's cache after a sync.
#include "engine/files/manifests.h"

#include <map>
#include <set>
#include <string_view>

#include "common/hash.h"
#include "common/path.h"
#include "engine/state/state_folder.h"

namespace hasync::engine {
namespace {

// A touched entry as it is now on disk, with the hashes it is known to have.
bool Restat(Env& env, const std::string& root_path, const WireEntry& r, const snapshot::Entry* l,
            const FileJob* job, snapshot::Entry& e) {
  auto info = env.Stat(JoinPath(root_path, r.path));
  if (!info.ok()) return false;
  e = snapshot::Entry(r.path, *info);
  e.link_target = r.link_target;
  // What the apply set (LocalizeList cut them to this node's namespaces); the restat's ctime
  // is after it, so the next scan reuses them until they change.
  if (r.type != FileType::kSymlink) e.xattrs = r.xattrs;
  if (job != nullptr && !job->vanished) {
    e.blocks = job->hashes;
    e.digest = FileDigest(e.blocks, e.size);
    e.hashed = e.size == job->size;
  } else if (l && l->hashed && r.hashed && l->digest == r.digest) {
    e.blocks = l->blocks;
    e.digest = l->digest;
    e.hashed = true;
  }
  return true;
}

}  // namespace

snapshot::Manifest NewLocalManifest(Env& env, const std::string& root_path, uint32_t root,
                                    const RootPlan& rp, const std::vector<Action>& actions,
                                    const std::vector<std::unique_ptr<FileJob>>& jobs) {
  std::map<std::string_view, const FileJob*> job_of;
  for (const auto& j : jobs) {
    if (j->action->root == root) job_of[j->action->path] = j.get();
  }
  std::set<std::string_view> acted;
  for (const Action& a : actions) {
    if (a.root == root) acted.insert(a.path);
  }
  std::vector<snapshot::Entry> out;
  out.reserve(rp.remote.size());
  for (const WireEntry& r : rp.remote) {
    const snapshot::Entry* l = rp.local.Find(r.path);
    bool same = l && !acted.count(r.path) && l->type == r.type;
    if (same && l->type == FileType::kRegular && !l->hashed) same = false;
    if (same) {
      out.push_back(*l);
      continue;
    }
    auto jt = job_of.find(r.path);
    snapshot::Entry e;
    if (Restat(env, root_path, r, l, jt == job_of.end() ? nullptr : jt->second, e)) {
      out.push_back(std::move(e));
    }
  }
  snapshot::Manifest m(std::move(out));
  // The mark of the scan the sync began with: the sync's own changes came after it, so the
  // change feed reports their folders to the next scan.
  m.set_mark(rp.local.mark());
  for (const WireEntry& r : rp.remote) {
    if (r.hardlink_to.empty()) continue;
    const snapshot::Entry* t = m.Find(r.hardlink_to);
    auto* e = const_cast<snapshot::Entry*>(m.Find(r.path));
    if (t && e && t->hashed && t->inode == e->inode) {
      e->blocks = t->blocks;
      e->digest = t->digest;
      e->hashed = true;
    }
  }
  return m;
}

Status OpenServeCache(Env& env, const Settings& s) {
  HASYNC_RETURN_IF_ERROR(CreateDirs(env, ServeCacheDir(s), 0700));
  return CheckOwnedPath(env, ServeCacheDir(s), true);
}

}  // namespace hasync::engine
