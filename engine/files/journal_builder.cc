// BuildJournal: one operation per action, in the plan's order (removals deepest first, then
// directories, content, links, metadata), which is the order roll-forward applies them in.
#include "engine/files/journal_builder.h"

#include "common/path.h"

namespace hasync::engine {
namespace {

void SetMeta(JournalOp& op, const WireEntry& r, int64_t mtime_ns, bool set_owner) {
  op.kind = OpKind::kMeta;
  op.mode = r.mode;
  op.set_owner = set_owner;
  op.uid = r.uid;
  op.gid = r.gid;
  op.mtime_ns = mtime_ns;
  op.set_xattrs = r.type != FileType::kSymlink;
  op.xattrs = r.xattrs;
}

}  // namespace

BuiltJournal BuildJournal(const JournalInputs& in) {
  BuiltJournal out;
  Journal& jn = out.journal;
  JournalCounts& n = out.counts;
  const std::vector<std::string>& roots = *in.roots;
  jn.sync_id = in.sync_id;
  jn.db_commit = in.db_commit;
  for (uint32_t i = 0; i < roots.size(); ++i) {
    jn.roots.push_back(roots[i]);
    jn.staging_dirs.push_back(in.staging->Dir(i));
  }
  std::map<const Action*, const FileJob*> job_of;
  for (const auto& j : *in.jobs) job_of[j->action] = j.get();
  size_t links = 0;
  for (const Action& a : *in.actions) {
    JournalOp op;
    op.root = a.root;
    op.path = JoinPath(roots[a.root], a.path);
    op.type = a.type;
    switch (a.kind) {
      case ActionKind::kRemove:
        op.kind = OpKind::kRemove;
        ++n.files_deleted;
        break;
      case ActionKind::kMkdir:
        op.kind = OpKind::kMkdir;
        ++n.dirs_created;
        break;
      case ActionKind::kFile: {
        const FileJob* j = job_of.at(&a);
        if (j->vanished) continue;
        ++n.files_changed;
        if (!a.in_place) {
          op.kind = OpKind::kRename;
          op.source = j->staged;
          break;
        }
        if (!j->runs.empty()) {
          JournalOp w = op;
          w.kind = OpKind::kWriteBlocks;
          w.source = in.staging->RedoPath(a.root);
          w.runs = j->runs;
          jn.ops.push_back(std::move(w));
        }
        SetMeta(op, *a.remote, j->mtime_ns, in.set_owner);
        break;
      }
      case ActionKind::kSymlink:
        ++n.files_changed;
        op.kind = OpKind::kRename;
        op.source = in.symlink_staged->at(&a);
        break;
      case ActionKind::kLink:
        ++n.files_changed;
        op.kind = OpKind::kLink;
        op.source = JoinPath(roots[a.root], a.remote->hardlink_to);
        op.temp = in.staging->PathFor(a.root, a.path, 'h', links++);
        break;
      case ActionKind::kMeta:
        ++n.meta_changed;
        SetMeta(op, *a.remote, a.remote->mtime_ns, in.set_owner);
        break;
    }
    jn.ops.push_back(std::move(op));
  }
  return out;
}

}  // namespace hasync::engine
