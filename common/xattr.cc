// The attribute calls. An O_PATH handle cannot take f*xattr on older kernels, so it is named
// through /proc/self/fd/N, whose magic link resolves to the pinned inode whatever its path
// became: no path string of the tree is ever looked up again.
#include "common/xattr.h"

#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/log.h"

namespace hasync {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Attributes absent or not supported here: nothing to read or remove.
bool NoAttrs(int err) { return err == ENOTSUP || err == ENODATA; }

class Handle {
 public:
  Handle(int fd, bool o_path)
      : fd_(fd), proc_(o_path ? "/proc/self/fd/" + std::to_string(fd) : "") {}
  ssize_t List(char* buf, size_t n) const {
    return proc_.empty() ? ::flistxattr(fd_, buf, n) : ::listxattr(proc_.c_str(), buf, n);
  }
  ssize_t Get(const char* name, void* buf, size_t n) const {
    return proc_.empty() ? ::fgetxattr(fd_, name, buf, n) : ::getxattr(proc_.c_str(), name, buf, n);
  }
  int Set(const std::string& name, const std::string& v) const {
    return proc_.empty() ? ::fsetxattr(fd_, name.c_str(), v.data(), v.size(), 0)
                         : ::setxattr(proc_.c_str(), name.c_str(), v.data(), v.size(), 0);
  }
  int Remove(const std::string& name) const {
    return proc_.empty() ? ::fremovexattr(fd_, name.c_str())
                         : ::removexattr(proc_.c_str(), name.c_str());
  }

 private:
  int fd_;
  std::string proc_;
};

// The names, retried while another writer grows the list between the two calls (ERANGE).
Result<std::vector<std::string>> ListNames(const Handle& h, const std::string& shown) {
  for (int attempt = 0;; ++attempt) {
    ssize_t n = h.List(nullptr, 0);
    if (n < 0 && NoAttrs(errno)) return std::vector<std::string>{};
    if (n < 0) return ErrnoStatus("listing the attributes of " + shown, errno);
    std::string buf(static_cast<size_t>(n), '\0');
    ssize_t got = n == 0 ? 0 : h.List(buf.data(), buf.size());
    if (got < 0 && errno == ERANGE && attempt < 4) continue;
    if (got < 0) return ErrnoStatus("listing the attributes of " + shown, errno);
    std::vector<std::string> names;
    for (size_t at = 0; at < static_cast<size_t>(got);) {
      size_t end = buf.find('\0', at);
      if (end == std::string::npos) end = static_cast<size_t>(got);
      if (end > at) names.emplace_back(buf.substr(at, end - at));
      at = end + 1;
    }
    return names;
  }
}

// kNotFound when the attribute is gone (ENODATA): removed since the list was read.
Result<std::string> GetValue(const Handle& h, const std::string& name, const std::string& shown) {
  std::string what = "reading attribute " + name + " of " + shown;
  for (int attempt = 0;; ++attempt) {
    ssize_t n = h.Get(name.c_str(), nullptr, 0);
    if (n < 0 && NoAttrs(errno)) return Status(Code::kNotFound, what + ": gone");
    if (n < 0) return ErrnoStatus(what, errno);
    if (static_cast<size_t>(n) > kMaxXattrValue) {
      return Status(Code::kIo, what + ": " + std::to_string(n) + " bytes, more than hasync's " +
                                   std::to_string(kMaxXattrValue));
    }
    std::string v(static_cast<size_t>(n), '\0');
    ssize_t got = n == 0 ? 0 : h.Get(name.c_str(), v.data(), v.size());
    if (got < 0 && errno == ERANGE && attempt < 4) continue;
    if (got < 0 && NoAttrs(errno)) return Status(Code::kNotFound, what + ": gone");
    if (got < 0) return ErrnoStatus(what, errno);
    v.resize(static_cast<size_t>(got));
    return v;
  }
}

}  // namespace

bool XattrManaged(std::string_view name, bool as_root) {
  if (StartsWith(name, "user.")) return true;
  if (name == kAclAccess || name == kAclDefault) return true;
  return as_root && (StartsWith(name, "security.") || StartsWith(name, "trusted."));
}

bool XattrRead(std::string_view name, bool as_root) {
  return XattrManaged(name, as_root) || StartsWith(name, "security.");
}

bool SameManaged(const XattrList& a, const XattrList& b, bool as_root) {
  auto next = [&](const XattrList& l, size_t i) {
    while (i < l.size() && !XattrManaged(l[i].name, as_root)) ++i;
    return i;
  };
  size_t i = next(a, 0), j = next(b, 0);
  for (; i < a.size() && j < b.size(); i = next(a, i + 1), j = next(b, j + 1)) {
    if (!(a[i] == b[j])) return false;
  }
  return i == a.size() && j == b.size();
}

bool RunningAsRoot() { return ::geteuid() == 0; }

void FilterManaged(XattrList& list, bool as_root) {
  std::erase_if(list, [&](const Xattr& x) { return !XattrManaged(x.name, as_root); });
}

Status CheckXattrs(const XattrList& list) {
  if (list.size() > kMaxXattrs) {
    return Status(Code::kProtocol, std::to_string(list.size()) +
                                       " extended attributes, more than " +
                                       std::to_string(kMaxXattrs));
  }
  size_t total = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    const Xattr& x = list[i];
    if (x.name.empty() || x.name.size() > kMaxXattrName || x.name.find('\0') != x.name.npos ||
        x.name.find('.') == x.name.npos) {
      return Status(Code::kProtocol, "an extended attribute with a bad name");
    }
    if (x.value.size() > kMaxXattrValue) {
      return Status(Code::kProtocol, "extended attribute " + x.name + " of " +
                                         std::to_string(x.value.size()) + " bytes, more than " +
                                         std::to_string(kMaxXattrValue));
    }
    if (i > 0 && !(list[i - 1].name < x.name)) {
      return Status(Code::kProtocol, "extended attributes not sorted or repeated: " + x.name);
    }
    total += x.name.size() + x.value.size();
  }
  if (total > kMaxXattrBytes) {
    return Status(Code::kProtocol, "extended attributes of " + std::to_string(total) +
                                       " bytes in one entry, more than " +
                                       std::to_string(kMaxXattrBytes));
  }
  return Status::Ok();
}

Result<XattrList> ReadXattrsFd(int fd, bool o_path, bool as_root, const std::string& shown) {
  Handle h(fd, o_path);
  HASYNC_ASSIGN_OR_RETURN(auto names, ListNames(h, shown));
  XattrList out;
  for (std::string& name : names) {
    if (!XattrRead(name, as_root)) continue;
    auto v = GetValue(h, name, shown);
    if (!v.ok() && v.status().code() == Code::kNotFound) continue;
    if (!v.ok()) return v.status();
    out.push_back(Xattr{std::move(name), std::move(*v)});
  }
  std::sort(out.begin(), out.end(), [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  if (Status s = CheckXattrs(out); !s.ok()) {
    return Status(Code::kIo, shown + ": " + s.message() + " (hasync's limit per entry)");
  }
  return out;
}

namespace {

constexpr std::string_view kSelinux = "security.selinux";

// What this node's kernel, policy or file system refuses for an attribute other than the ACLs:
// an SELinux label the policy keeps, trusted.* in a user namespace, user.* where the file
// system has none. A warning (the first few per process), not a sync that fails every time.
bool Refused(const std::string& name, int err, const std::string& what) {
  bool acl = name == kAclAccess || name == kAclDefault;
  if (acl || (err != EPERM && err != EACCES && err != ENOTSUP)) return false;
  static std::atomic<int> warned{0};
  if (warned.fetch_add(1) < 10) {
    Log("files")->warn("{}: {} (the attribute is left as this node has it)", what,
                       std::strerror(err));
  }
  return true;
}

}  // namespace

Status ApplyXattrsFd(int fd, bool o_path, const XattrList& want, bool as_root,
                     const std::string& shown) {
  Handle h(fd, o_path);
  HASYNC_ASSIGN_OR_RETURN(auto names, ListNames(h, shown));
  auto wanted = [&](const std::string& n) {
    return std::any_of(want.begin(), want.end(), [&](const Xattr& x) { return x.name == n; });
  };
  for (const std::string& n : names) {
    // A label this node's policy gave (the Primary has none): the policy's to keep.
    if (!XattrManaged(n, as_root) || wanted(n) || n == kSelinux) continue;
    if (h.Remove(n) != 0 && !NoAttrs(errno)) {
      std::string what = "removing attribute " + n + " of " + shown;
      if (Refused(n, errno, what)) continue;
      return ErrnoStatus(what, errno);
    }
  }
  // The ACLs first: setting one rewrites the mode's group bits (to its mask), which the
  // Primary's mode already holds; the other attributes do not touch the mode.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Xattr& x : want) {
      bool acl = x.name == kAclAccess || x.name == kAclDefault;
      if (acl != (pass == 0) || !XattrManaged(x.name, as_root)) continue;
      auto have = GetValue(h, x.name, shown);
      if (have.ok() && *have == x.value) continue;
      if (h.Set(x.name, x.value) != 0) {
        std::string what = "setting attribute " + x.name + " of " + shown;
        if (Refused(x.name, errno, what)) continue;
        return ErrnoStatus(what, errno);
      }
    }
  }
  return Status::Ok();
}

void PutXattrs(Encoder& e, const XattrList& list) {
  e.PutVarint(list.size());
  for (const Xattr& x : list) {
    e.PutString(x.name);
    e.PutString(x.value);
  }
}

Result<XattrList> GetXattrs(Decoder& d) {
  HASYNC_ASSIGN_OR_RETURN(uint64_t n, d.GetVarint(kMaxXattrs, "extended attribute count"));
  if (n * 2 > d.remaining())
    return Status(Code::kProtocol, "extended attribute count past the end");
  XattrList list(n);
  for (Xattr& x : list) {
    HASYNC_ASSIGN_OR_RETURN(x.name, d.GetString(kMaxXattrName));
    HASYNC_ASSIGN_OR_RETURN(x.value, d.GetString(kMaxXattrValue));
  }
  HASYNC_RETURN_IF_ERROR(CheckXattrs(list));
  return list;
}

}  // namespace hasync
