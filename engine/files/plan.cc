// Validation and comparison. Both sides' entries are sorted by path, so a parent directory
// always precedes what it holds and a reverse walk removes children before their parents.
#include "engine/files/plan.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <unistd.h>

#include "common/path.h"
#include "engine/files/delta.h"
#include "snapshot/scanner.h"

namespace hasync::engine {

uint64_t MaxReceivableSize() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGE_SIZE);
  uint64_t memory = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 1ull << 30;
  // The request's copy of the Secondary's hashes, the job's and the received ones: 3 x 8 bytes.
  return memory / 4 / (3 * sizeof(uint64_t)) * snapshot::kBlockSize;
}

namespace {

// The first component of a path: what the reserved names are compared with.
std::string_view TopName(std::string_view path) { return path.substr(0, path.find('/')); }

Status CheckEntryLimits(const WireEntry& e, const ListLimits& limits) {
  if (TopName(e.path) == snapshot::kStagingDirName) {
    return Status(Code::kProtocol, "the Primary's list names '" + e.path + "', inside " +
                                       std::string(snapshot::kStagingDirName) +
                                       ", which hasync reserves for its staging folder");
  }
  if (e.type == FileType::kRegular && e.size > limits.max_file_size) {
    return Status(Code::kProtocol,
                  "the Primary lists '" + e.path + "' at " + std::to_string(e.size) +
                      " bytes, more than this node can receive (" +
                      std::to_string(limits.max_file_size >> 30) +
                      " GiB: its block hashes must fit in a quarter of its memory)");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRemoteList(const std::vector<WireEntry>& entries, const ListLimits& limits) {
  std::unordered_set<std::string_view> dirs;
  std::unordered_map<std::string_view, const WireEntry*> files;
  const std::string* prev = nullptr;
  for (const WireEntry& e : entries) {
    HASYNC_RETURN_IF_ERROR(ValidateRelativePath(e.path));
    HASYNC_RETURN_IF_ERROR(CheckEntryLimits(e, limits));
    if (prev && !(*prev < e.path)) {
      return Status(Code::kProtocol,
                    "the Primary's list is not sorted or repeats '" + e.path + "'");
    }
    prev = &e.path;
    std::string_view parent = ParentOf(e.path);
    if (!parent.empty() && !dirs.count(parent)) {
      return Status(Code::kUnsafePath, "refused path '" + e.path + "': its parent '" +
                                           std::string(parent) +
                                           "' is not a directory in the Primary's list");
    }
    switch (e.type) {
      case FileType::kDirectory:
        dirs.insert(e.path);
        break;
      case FileType::kSymlink:
        if (e.link_target.empty() || e.link_target.find('\0') != std::string::npos) {
          return Status(Code::kProtocol, "symlink '" + e.path + "' with an empty or bad target");
        }
        break;
      case FileType::kRegular:
        if (!e.hardlink_to.empty()) {
          auto it = files.find(e.hardlink_to);
          if (it == files.end() || !it->second->hardlink_to.empty()) {
            return Status(Code::kProtocol, "hard link '" + e.path + "' to '" + e.hardlink_to +
                                               "', which is not an earlier file of the list");
          }
        }
        files.emplace(e.path, &e);
        break;
      default:
        return Status(Code::kProtocol, "list entry of unknown type");
    }
  }
  return Status::Ok();
}

size_t FilterRemoteList(const snapshot::Filter& filter, std::vector<WireEntry>& entries) {
  // Sorted and validated: a parent comes before what it holds, a link after its file.
  std::unordered_set<std::string> dropped;
  std::vector<WireEntry> kept;
  kept.reserve(entries.size());
  for (WireEntry& e : entries) {
    std::string_view parent = ParentOf(e.path);
    bool is_dir = e.type == FileType::kDirectory;
    if ((!parent.empty() && dropped.count(std::string(parent))) ||
        filter.Excluded(e.path, is_dir)) {
      dropped.insert(e.path);
      continue;
    }
    if (!e.hardlink_to.empty() && dropped.count(e.hardlink_to)) e.hardlink_to.clear();
    kept.push_back(std::move(e));
  }
  size_t n = entries.size() - kept.size();
  entries = std::move(kept);
  return n;
}

namespace {

bool MetaDiffers(const snapshot::Entry& l, const WireEntry& r, const PlanOptions& o) {
  if (l.mtime_ns != r.mtime_ns) return true;
  if (r.type != FileType::kSymlink && l.mode != r.mode) return true;
  // An attribute or ACL change moves ctime, not mtime: compared on its own (a metadata update).
  if (r.type != FileType::kSymlink && !SameManaged(l.xattrs, r.xattrs, o.as_root)) return true;
  return o.compare_owner && (l.uid != r.uid || l.gid != r.gid);
}

}  // namespace

void PlanRoot(uint32_t root, const RootPlan& plan, const PlanOptions& o, std::vector<Action>& out) {
  // Removals: local entries the Primary does not have, or whose type changes. The list is
  // sorted by path (ValidateRemoteList): one binary search each, no set of every path.
  std::vector<Action> removes;
  std::set<std::string_view> touched_dirs;  // directories whose entries change
  for (const snapshot::Entry& l : plan.local.entries()) {
    auto it = std::lower_bound(plan.remote.begin(), plan.remote.end(), l.path,
                               [](const WireEntry& w, const std::string& p) { return w.path < p; });
    bool keep = it != plan.remote.end() && it->path == l.path;
    if (keep) {
      const WireEntry* r = &*it;
      // A directory replaced by a file or symlink must go; files and symlinks are replaced by
      // rename, which needs no removal, unless a directory takes their place.
      bool l_dir = l.type == FileType::kDirectory;
      bool r_dir = r->type == FileType::kDirectory;
      keep = l_dir == r_dir;
    }
    if (!keep) {
      removes.push_back(Action{
          .kind = ActionKind::kRemove, .root = root, .path = l.path, .type = l.type, .local = &l});
      touched_dirs.insert(ParentOf(l.path));
    }
  }
  std::reverse(removes.begin(), removes.end());
  for (auto& a : removes) out.push_back(std::move(a));

  std::vector<Action> content, links, metas;
  std::unordered_set<std::string_view> replaced;  // files that get a new inode
  for (const WireEntry& r : plan.remote) {
    const snapshot::Entry* l = plan.local.Find(r.path);
    if (l && (l->type == FileType::kDirectory) != (r.type == FileType::kDirectory)) l = nullptr;
    Action a{.kind = ActionKind::kMeta,
             .root = root,
             .path = r.path,
             .type = r.type,
             .remote = &r,
             .local = l};
    switch (r.type) {
      case FileType::kDirectory:
        if (l == nullptr) {
          a.kind = ActionKind::kMkdir;
          out.push_back(a);
          touched_dirs.insert(ParentOf(r.path));
          touched_dirs.insert(r.path);  // created 0700: its mode and mtime come last
        } else if (MetaDiffers(*l, r, o)) {
          touched_dirs.insert(r.path);  // re-stamped with the directories below
        }
        break;
      case FileType::kSymlink:
        if (l && l->type == FileType::kSymlink && l->link_target == r.link_target) {
          if (MetaDiffers(*l, r, o)) metas.push_back(a);
        } else {
          a.kind = ActionKind::kSymlink;
          content.push_back(a);
          touched_dirs.insert(ParentOf(r.path));
        }
        break;
      case FileType::kRegular:
        if (!r.hardlink_to.empty()) {
          const snapshot::Entry* target = plan.local.Find(r.hardlink_to);
          bool linked = l && target && l->type == FileType::kRegular && l->inode == target->inode &&
                        !replaced.count(r.hardlink_to);
          if (!linked) {
            a.kind = ActionKind::kLink;
            links.push_back(a);
            touched_dirs.insert(ParentOf(r.path));
          }
        } else if (l && l->type == FileType::kRegular && l->hashed && r.hashed &&
                   l->digest == r.digest && l->size == r.size) {
          if (MetaDiffers(*l, r, o)) metas.push_back(a);
        } else {
          a.kind = ActionKind::kFile;
          bool have = l && l->type == FileType::kRegular && l->hashed;
          a.request = have ? RequestKind::kBlocks : RequestKind::kWhole;
          // A size change in a large file is most likely shifted content (an insertion or a
          // deletion), which moves every block after it: a rolling delta finds it again.
          if (have && l->size != r.size && l->size >= kDeltaMinSize && r.size >= kDeltaMinSize &&
              SignatureBytes(l->size) <= kMaxSignatureBytes) {
            a.request = RequestKind::kDelta;
          }
          a.in_place = have && l->size == r.size && l->size >= kInPlaceMinSize && l->nlink == 1;
          content.push_back(a);
          if (!a.in_place) {
            touched_dirs.insert(ParentOf(r.path));
            replaced.insert(r.path);
          }
        }
        break;
      default:
        break;
    }
  }
  for (auto& a : content) out.push_back(std::move(a));
  for (auto& a : links) out.push_back(std::move(a));
  for (auto& a : metas) out.push_back(std::move(a));
  // Directories last and deepest first: renames inside a directory change its mtime.
  for (auto it = plan.remote.rbegin(); it != plan.remote.rend(); ++it) {
    if (it->type == FileType::kDirectory && touched_dirs.count(it->path)) {
      out.push_back(Action{.kind = ActionKind::kMeta,
                           .root = root,
                           .path = it->path,
                           .type = FileType::kDirectory,
                           .remote = &*it,
                           .local = plan.local.Find(it->path)});
    }
  }
}

std::string DescribeAction(const Action& a, const std::string& root_name) {
  std::string where = root_name + ":" + a.path;
  switch (a.kind) {
    case ActionKind::kRemove:
      return "- " + where;
    case ActionKind::kMkdir:
      return "+ " + where + "/";
    case ActionKind::kFile:
      return (a.local ? "~ " : "+ ") + where;
    case ActionKind::kSymlink:
      return "+ " + where + " -> " + a.remote->link_target;
    case ActionKind::kLink:
      return "+ " + where + " => " + a.remote->hardlink_to;
    case ActionKind::kMeta:
      return "m " + where;
  }
  return where;
}

}  // namespace hasync::engine
