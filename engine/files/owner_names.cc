// Name lookups and the raw ACL walk. The ACLs are mapped in their raw xattr form rather than
// through libacl's acl_to_text / acl_from_text: the form is the kernel's stable ABI
// (linux/posix_acl_xattr.h), the ids are all that changes, and the Secondary sets the bytes
// with fsetxattr on the pinned handle as it does every other attribute; no new library.
#include "engine/files/owner_names.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

namespace hasync::engine {
namespace {

constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kAclUser = 0x02;
constexpr uint16_t kAclGroup = 0x08;
constexpr size_t kAclHeader = 4;
constexpr size_t kAclEntry = 8;

struct AclEntry {
  uint16_t tag;
  uint16_t perm;
  uint32_t id;
};

bool IsAcl(const std::string& name) { return name == kAclAccess || name == kAclDefault; }

uint32_t Le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 and arm64 Debian: little-endian, as the format
}

std::optional<std::vector<AclEntry>> ParseAcl(std::string_view v) {
  if (v.size() < kAclHeader || (v.size() - kAclHeader) % kAclEntry != 0) return std::nullopt;
  if (Le32(v.data()) != kAclVersion) return std::nullopt;
  std::vector<AclEntry> out((v.size() - kAclHeader) / kAclEntry);
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = v.data() + kAclHeader + i * kAclEntry;
    std::memcpy(&out[i].tag, p, 2);
    std::memcpy(&out[i].perm, p + 2, 2);
    out[i].id = Le32(p + 4);
  }
  return out;
}

}  // namespace

std::optional<std::string> SystemNames::UserName(uint32_t uid) {
  auto [it, fresh] = user_names_.try_emplace(uid);
  if (!fresh) return it->second;
  std::vector<char> buf(16384);
  struct passwd pw, *out = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out) it->second = pw.pw_name;
  return it->second;
}

std::optional<std::string> SystemNames::GroupName(uint32_t gid) {
  auto [it, fresh] = group_names_.try_emplace(gid);
  if (!fresh) return it->second;
  std::vector<char> buf(65536);  // a group's member list can be long
  struct group gr, *out = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &out) == 0 && out) it->second = gr.gr_name;
  return it->second;
}

std::optional<uint32_t> SystemNames::UserId(const std::string& name) {
  auto [it, fresh] = user_ids_.try_emplace(name);
  if (!fresh) return it->second;
  std::vector<char> buf(16384);
  struct passwd pw, *out = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out) == 0 && out) {
    it->second = pw.pw_uid;
  }
  return it->second;
}

std::optional<uint32_t> SystemNames::GroupId(const std::string& name) {
  auto [it, fresh] = group_ids_.try_emplace(name);
  if (!fresh) return it->second;
  std::vector<char> buf(65536);
  struct group gr, *out = nullptr;
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &out) == 0 && out) {
    it->second = gr.gr_gid;
  }
  return it->second;
}

std::vector<std::pair<bool, uint32_t>> AclNamedIds(std::string_view acl) {
  std::vector<std::pair<bool, uint32_t>> out;
  auto entries = ParseAcl(acl);
  if (!entries) return out;
  for (const AclEntry& a : *entries) {
    if (a.tag == kAclUser || a.tag == kAclGroup) out.emplace_back(a.tag == kAclGroup, a.id);
  }
  return out;
}

std::string MapAclIds(std::string_view acl,
                      const std::function<uint32_t(bool group, uint32_t id)>& map) {
  auto entries = ParseAcl(acl);
  if (!entries) return std::string(acl);
  for (AclEntry& a : *entries) {
    if (a.tag == kAclUser || a.tag == kAclGroup) a.id = map(a.tag == kAclGroup, a.id);
  }
  std::stable_sort(entries->begin(), entries->end(), [](const AclEntry& x, const AclEntry& y) {
    return x.tag != y.tag ? x.tag < y.tag
                          : (x.tag == kAclUser || x.tag == kAclGroup) && x.id < y.id;
  });
  std::string out(acl.substr(0, kAclHeader));
  for (const AclEntry& a : *entries) {
    char b[kAclEntry];
    std::memcpy(b, &a.tag, 2);
    std::memcpy(b + 2, &a.perm, 2);
    std::memcpy(b + 4, &a.id, 4);
    out.append(b, kAclEntry);
  }
  return out;
}

void AttachNames(WireEntry& e, NameLookup& names) {
  std::vector<std::pair<bool, uint32_t>> ids{{false, e.uid}, {true, e.gid}};
  for (const Xattr& x : e.xattrs) {
    if (!IsAcl(x.name)) continue;
    for (auto id : AclNamedIds(x.value)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  e.names.clear();
  for (auto [group, id] : ids) {
    if (e.names.size() == kMaxNamesPerEntry) break;
    auto name = group ? names.GroupName(id) : names.UserName(id);
    if (name && !name->empty() && name->size() <= kMaxUserName) {
      e.names.push_back(IdName{.group = group, .id = id, .name = *name});
    }
  }
}

void MapNames(WireEntry& e, NameLookup& names) {
  auto map = [&](bool group, uint32_t id) -> uint32_t {
    for (const IdName& n : e.names) {
      if (n.group != group || n.id != id) continue;
      auto local = group ? names.GroupId(n.name) : names.UserId(n.name);
      return local ? *local : id;
    }
    return id;
  };
  e.uid = map(false, e.uid);
  e.gid = map(true, e.gid);
  for (Xattr& x : e.xattrs) {
    if (IsAcl(x.name)) x.value = MapAclIds(x.value, map);
  }
  e.names.clear();
}

void LocalizeList(std::vector<WireEntry>& entries, bool as_root, NameLookup* names) {
  for (WireEntry& e : entries) {
    FilterManaged(e.xattrs, as_root);
    if (names != nullptr) MapNames(e, *names);
    e.names.clear();
  }
}

}  // namespace hasync::engine
