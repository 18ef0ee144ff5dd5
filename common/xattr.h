// Extended attributes as hasync replicates them (what `rsync -X -A` keeps): user.*, and as root
// security.* (security.capability, security.selinux) and trusted.*; POSIX ACLs are the
// system.posix_acl_access / system.posix_acl_default attributes in the kernel's raw form, so
// they travel as attributes too. Lists are sorted by name; every encoder and decoder here
// checks the limits below, which bound what a hostile peer or a damaged file can make us hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/binary.h"
#include "common/status.h"

namespace hasync {

struct Xattr {
  std::string name;   // with its namespace: "user.comment"
  std::string value;  // bytes
  bool operator==(const Xattr&) const = default;
};
// Sorted by name, no name twice.
using XattrList = std::vector<Xattr>;

constexpr size_t kMaxXattrs = 64;              // per entry
constexpr size_t kMaxXattrName = 255;          // XATTR_NAME_MAX
constexpr size_t kMaxXattrValue = 64 * 1024;   // XATTR_SIZE_MAX
constexpr size_t kMaxXattrBytes = 256 * 1024;  // names and values of one entry together
constexpr std::string_view kAclAccess = "system.posix_acl_access";
constexpr std::string_view kAclDefault = "system.posix_acl_default";

// Whether this process replicates (sets, removes, compares) the attribute `name`: user.* and
// the two ACLs always; security.* and trusted.* only as root (`as_root`), who alone may set
// them (rsync does the same).
bool XattrManaged(std::string_view name, bool as_root);
// Whether a scan records it: what XattrManaged accepts, and security.* always (anyone may read
// a binary's security.capability, so a Primary whose serve side is not root still sends it).
bool XattrRead(std::string_view name, bool as_root);
// a and b equal once both are cut to XattrManaged(as_root): no copy made.
bool SameManaged(const XattrList& a, const XattrList& b, bool as_root);
// geteuid() == 0.
bool RunningAsRoot();

// The entry's attributes XattrRead accepts, through its open handle. `fd` is an ordinary descriptor
// (flistxattr / fgetxattr) or, when `o_path`, an O_PATH one, reached through /proc/self/fd.
// More than the limits above is kIo naming `shown`. A file system without attributes gives
// an empty list.
Result<XattrList> ReadXattrsFd(int fd, bool o_path, bool as_root, const std::string& shown);
// Makes the entry's managed attributes exactly `want` (those of `want` this process does not
// manage are left out): removes the others, then sets the ACLs, then the rest (so a
// security.capability set here survives: the caller has chowned already).
Status ApplyXattrsFd(int fd, bool o_path, const XattrList& want, bool as_root,
                     const std::string& shown);

// Keeps only the attributes XattrManaged(as_root) accepts.
void FilterManaged(XattrList& list, bool as_root);
// Checks a list against the limits, its order and its names (no NUL, a namespace prefix).
Status CheckXattrs(const XattrList& list);

// The shared encoding (engine/FORMAT.md, snapshot/FORMAT.md): a varint count, then each name
// and value as a length-prefixed string. GetXattrs refuses (kProtocol) a list past the limits,
// unsorted or with a repeated name, before it allocates from any count.
void PutXattrs(Encoder& e, const XattrList& list);
Result<XattrList> GetXattrs(Decoder& d);

}  // namespace hasync
