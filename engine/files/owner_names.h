// Ownership by name ([sync] owner = "name"): the Primary names every user and group id an entry
// mentions (its owner, its group, the named entries of its ACLs); the Secondary maps each name
// to its own id, keeping the Primary's id where the name is unknown here (as rsync does). The
// lookups sit behind NameLookup so the mapping is tested with a fake account table.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/wire/protocol.h"

namespace hasync::engine {

class NameLookup {
 public:
  virtual ~NameLookup() = default;
  virtual std::optional<std::string> UserName(uint32_t uid) = 0;
  virtual std::optional<std::string> GroupName(uint32_t gid) = 0;
  virtual std::optional<uint32_t> UserId(const std::string& name) = 0;
  virtual std::optional<uint32_t> GroupId(const std::string& name) = 0;
};

// The system's account database (getpwuid_r, getgrgid_r, getpwnam_r, getgrnam_r), each answer
// cached: one instance per sync, so a tree of 200,000 files owned by three accounts costs three
// lookups. Not thread-safe.
class SystemNames : public NameLookup {
 public:
  std::optional<std::string> UserName(uint32_t uid) override;
  std::optional<std::string> GroupName(uint32_t gid) override;
  std::optional<uint32_t> UserId(const std::string& name) override;
  std::optional<uint32_t> GroupId(const std::string& name) override;

 private:
  std::map<uint32_t, std::optional<std::string>> user_names_, group_names_;
  std::map<std::string, std::optional<uint32_t>, std::less<>> user_ids_, group_ids_;
};

// The named entries of a raw POSIX ACL (system.posix_acl_*: a 4-byte version 2 header, then
// 8-byte entries of le16 tag, le16 permissions, le32 id): {group?, id} of each ACL_USER and
// ACL_GROUP entry. A value of another form has none.
std::vector<std::pair<bool, uint32_t>> AclNamedIds(std::string_view acl);
// The ACL with each named entry's id replaced by map(group?, id), then re-sorted by tag and id
// (the order the kernel and libacl write). A value of another form is returned as it is.
std::string MapAclIds(std::string_view acl,
                      const std::function<uint32_t(bool group, uint32_t id)>& map);

// The Primary's side: e.names gets the name of e's owner, group and ACL ids that have one
// (at most kMaxNamesPerEntry; ids without a name here stay unnamed and travel as ids).
void AttachNames(WireEntry& e, NameLookup& names);
// The Secondary's side: e's owner, group and ACL ids become this node's ids of the names e
// carries; an id without a name, or whose name is unknown here, is kept. Clears e.names.
void MapNames(WireEntry& e, NameLookup& names);

// The Secondary's view of the Primary's list, before the plan: each entry's attributes cut to
// those this process manages (common/xattr.h: XattrManaged(as_root)), so a Secondary without
// root neither compares nor sets security.* or trusted.*; and, with names, MapNames.
void LocalizeList(std::vector<WireEntry>& entries, bool as_root, NameLookup* names);

}  // namespace hasync::engine
