// The state folder's trust check. What the sync's own files say decides what this node writes
// next: a journal is rolled forward as root, node.db holds the generations and the mode, the ssh
// folder holds this node's key and known_hosts the pinned peers. Whoever else can write them can
// make root write anywhere or act as this node, so every command that reads the folder refuses
// one that another account can write.
#pragma once

#include "common/env.h"
#include "common/status.h"
#include "engine/config/settings.h"

namespace hasync::engine {

// kConfig, naming the path and the fix (chmod go-w, chown), when the state folder or anything
// hasync keeps in it (node.db, the journal, the manifests and ssh folders, the key, known_hosts)
// is writable by group or others, or owned by an account other than this process's effective
// user or root. Missing files pass: they are created by this account.
Status CheckStateFolder(Env& env, const Settings& s);

// The same check for one path (a directory through "<path>/."): kConfig naming the fix when it is
// owned by an account other than this process's effective user or root, or writable by group or
// others; a missing path passes. The serve side's cache folder (engine/files/manifests.h) is
// checked this way by the account that serves, and is not part of CheckStateFolder: root trusts
// nothing in it.
Status CheckOwnedPath(Env& env, const std::string& path, bool dir);

}  // namespace hasync::engine
