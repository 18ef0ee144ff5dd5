// Trusted hosts: files in the state folder and the authorized_keys sshd reads; OpenSSH's own
// tools (ssh-keygen, ssh-keyscan) run as child processes, never through a shell.
#include "engine/node/trust.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/log.h"
#include "common/process.h"

namespace hasync::engine {
namespace {

// Lines hasync manages end with "hasync-peer:<this node>:<peer host>": several nodes (two on
// one test machine, say) can share one authorized_keys, and each rewrites only its own lines.
std::string Marker(const std::string& node) { return "hasync-peer:" + node + ":"; }

using Output = ProcessOutput;

Result<Output> Run(const std::vector<std::string>& argv) { return RunProcess(argv); }

std::string Trim(std::string s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

Result<std::string> Base64Decode(const std::string& b64) {
  if (b64.empty() || b64.size() % 4 != 0 || b64.size() > 16384) {
    return Status(Code::kUsage, "the key's base64 part is malformed");
  }
  for (char c : b64) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) {
      return Status(Code::kUsage, "the key's base64 part is malformed");
    }
  }
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return Status(Code::kUsage, "the key's base64 part is malformed");
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Result<std::string> SelfPath() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ErrnoStatus("finding this program's path", errno);
  return std::string(buf, static_cast<size_t>(n));
}

// The addresses sshd will see for host: the host itself and what it resolves to.
std::string FromPatterns(const std::string& host) {
  std::set<std::string> out = {host};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    for (addrinfo* a = res; a; a = a->ai_next) {
      char name[NI_MAXHOST];
      if (::getnameinfo(a->ai_addr, a->ai_addrlen, name, sizeof name, nullptr, 0, NI_NUMERICHOST) ==
          0) {
        out.insert(name);
      }
    }
    ::freeaddrinfo(res);
  }
  std::string joined;
  for (const auto& p : out) joined += (joined.empty() ? "" : ",") + p;
  return joined;
}

std::string KnownHostsName(const std::string& host, int port) {
  return port == 22 ? host : "[" + host + "]:" + std::to_string(port);
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Result<std::string> NormalizePublicKey(const std::string& key) {
  static const std::set<std::string> kTypes = {"ssh-ed25519",         "ssh-rsa",
                                               "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                               "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com"};
  std::istringstream in(Trim(key));
  std::string type, b64;
  in >> type >> b64;
  if (!kTypes.count(type)) {
    return Status(Code::kUsage,
                  "not an OpenSSH public key: it must start with ssh-ed25519, ssh-rsa or "
                  "ecdsa-sha2-*, as `hasync trust key` prints it");
  }
  HASYNC_ASSIGN_OR_RETURN(std::string blob, Base64Decode(b64));
  // The blob names its own type first (RFC 4253 string): a key pasted from elsewhere whose
  // parts do not belong together is refused.
  if (blob.size() < 4 + type.size() || blob.compare(4, type.size(), type) != 0 ||
      (static_cast<unsigned char>(blob[3]) != type.size() || blob[0] || blob[1] || blob[2])) {
    return Status(Code::kUsage, "the key's data does not match its type " + type);
  }
  return type + " " + b64;
}

Result<std::string> KeyFingerprint(const std::string& key) {
  HASYNC_ASSIGN_OR_RETURN(std::string k, NormalizePublicKey(key));
  HASYNC_ASSIGN_OR_RETURN(std::string blob, Base64Decode(k.substr(k.find(' ') + 1)));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &len, EVP_sha256(), nullptr);
  std::string b64(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, static_cast<int>(len));
  b64.resize(static_cast<size_t>(n));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

Trust::Trust(const Settings& s) : s_(s) {}

std::string Trust::IdentityPath() const { return s_.state_dir + "/ssh/id_ed25519"; }
std::string Trust::ControlPath() const { return s_.state_dir + "/ssh/cm-%C"; }

std::string Trust::AuthorizedKeysPath() const {
  if (!s_.ssh.authorized_keys.empty()) return s_.ssh.authorized_keys;
  passwd* pw = ::getpwnam(s_.ssh.user.c_str());
  std::string home = pw ? pw->pw_dir : "/home/" + s_.ssh.user;
  return home + "/.ssh/authorized_keys";
}

Result<std::string> Trust::LocalKey() {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  std::string pub = IdentityPath() + ".pub";
  if (!env->Stat(IdentityPath()).ok()) {
    HASYNC_RETURN_IF_ERROR(CreateDirs(*env, s_.state_dir + "/ssh", 0700));
    HASYNC_ASSIGN_OR_RETURN(Output o, Run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                           "hasync@" + s_.node_name, "-f", IdentityPath()}));
    if (o.status != 0) {
      return Status(Code::kIo, "ssh-keygen could not create this node's key: " + Trim(o.err));
    }
    Log("trust")->info("created this node's ssh key {}", IdentityPath());
  }
  HASYNC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(*env, pub));
  return NormalizePublicKey(text);
}

Result<std::vector<TrustedHost>> Trust::List() const {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  std::vector<TrustedHost> out;
  auto text = ReadFileToString(*env, s_.state_dir + "/trusted-hosts.json");
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return out;
    return text.status();
  }
  try {
    for (const auto& j : nlohmann::json::parse(*text)) {
      out.push_back(TrustedHost{j.at("host").get<std::string>(), j.at("port").get<int>(),
                                j.at("key").get<std::string>(), j.at("host_key").get<std::string>(),
                                j.value("name", std::string())});
    }
  } catch (const nlohmann::json::exception& e) {
    return Status(Code::kIo, s_.state_dir + "/trusted-hosts.json is damaged: " + e.what());
  }
  return out;
}

Result<TrustedHost> Trust::Find(const std::string& host) const {
  HASYNC_ASSIGN_OR_RETURN(auto hosts, List());
  for (auto& h : hosts) {
    if (h.host == host) return h;
  }
  return Status(Code::kNotFound, host + " is not a trusted host: add it with `hasync trust add " +
                                     host + " --key '<its key>'`");
}

Status Trust::Save(const std::vector<TrustedHost>& hosts) const {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  nlohmann::json j = nlohmann::json::array();
  for (const auto& h : hosts) {
    j.push_back({{"host", h.host},
                 {"port", h.port},
                 {"key", h.key},
                 {"host_key", h.host_key},
                 {"name", h.PeerName()}});
  }
  HASYNC_RETURN_IF_ERROR(CreateDirs(*env, s_.state_dir, 0700));
  std::string text = j.dump(2) + "\n";
  HASYNC_RETURN_IF_ERROR(
      WriteFileAtomic(*env, s_.state_dir + "/trusted-hosts.json", std::as_bytes(std::span(text))));
  HASYNC_RETURN_IF_ERROR(WriteAuthorizedKeys(hosts));
  return WriteKnownHosts(hosts);
}

namespace {

// Root writes authorized_keys into the ssh account's own folder, which that account can change
// under it at any moment: every step goes through one handle on the folder, opened without
// following a symbolic link and checked to belong to the account (or root) and to be writable
// by nobody else; the temporary file is created in it under a fresh name (O_EXCL | O_NOFOLLOW),
// given to the account while still open (fchown: nothing is ever chowned by name), synced and
// renamed within the handle. A link planted at the temporary or the final name cannot make root
// read, write, chmod or chown what it points to.
class KeysDir {
 public:
  ~KeysDir() {
    if (fd_ >= 0) ::close(fd_);
  }
  KeysDir(const KeysDir&) = delete;
  KeysDir(KeysDir&& o) noexcept : fd_(std::exchange(o.fd_, -1)), dir_(std::move(o.dir_)) {}

  // Opens dir (creating it, 0700 and the account's, when missing: its parent is trusted to be
  // the account's home or a folder the operator chose); refuses a link, a foreign owner or a
  // folder others may write.
  static Result<KeysDir> Open(const std::string& dir, const passwd* account) {
    uid_t uid = account != nullptr ? account->pw_uid : ::geteuid();
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
      HASYNC_RETURN_IF_ERROR(CreateDirs(*env, dir, 0700));
      fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && ::geteuid() == 0 && account != nullptr && ::fchown(fd, uid, account->pw_gid)) {
        int e = errno;
        ::close(fd);
        return ErrnoStatus("giving " + dir + " to " + account->pw_name, e);
      }
    }
    if (fd < 0) {
      int e = errno;
      if (e == ELOOP || e == ENOTDIR) {
        return Status(Code::kIo, dir + " is not a folder (a symbolic link?): refusing to write " +
                                     "authorized_keys there; make it a folder of its own");
      }
      return ErrnoStatus("opening " + dir, e);
    }
    KeysDir d(fd, dir);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return ErrnoStatus("reading " + dir, errno);
    if ((st.st_uid != uid && st.st_uid != 0) || (st.st_mode & 022) != 0) {
      return Status(Code::kIo, dir + " belongs to uid " + std::to_string(st.st_uid) +
                                   " or is writable by others: refusing to write authorized_keys "
                                   "there; it must be the ssh account's (uid " +
                                   std::to_string(uid) + ", chmod 700)");
    }
    return d;
  }

  // The current file's text ("" when there is none); a link or anything but a regular file
  // there is refused, so root never reads a file the account pointed it to.
  Result<std::string> Read(const std::string& name) const {
    int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return std::string();
      return Refused(name, errno);
    }
    struct stat st {};
    std::string text;
    bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    char buf[65536];
    for (ssize_t n; regular && (n = ::read(fd, buf, sizeof buf)) > 0;) {
      text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (!regular) return Refused(name, EINVAL);
    return text;
  }

  // Replaces name with text, 0600 and the account's.
  Status Replace(const std::string& name, const std::string& text, const passwd* account) const {
    std::string tmp = "." + name + ".hasync-" + std::to_string(::getpid()) + "-" + RandomHex();
    int fd = ::openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus("creating " + dir_ + "/" + tmp, errno);
    Status st = WriteAll(fd, text);
    if (st.ok() && ::geteuid() == 0 && account != nullptr && account->pw_uid != 0 &&
        ::fchown(fd, account->pw_uid, account->pw_gid) != 0) {
      st = ErrnoStatus("giving " + dir_ + "/" + tmp + " to " + account->pw_name, errno);
    }
    if (st.ok() && (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0)) {
      st = ErrnoStatus("writing " + dir_ + "/" + tmp, errno);
    }
    if (::close(fd) != 0 && st.ok()) st = ErrnoStatus("writing " + dir_ + "/" + tmp, errno);
    if (st.ok() && ::renameat(fd_, tmp.c_str(), fd_, name.c_str()) != 0) {
      st = ErrnoStatus("replacing " + dir_ + "/" + name, errno);
    }
    if (!st.ok()) {
      ::unlinkat(fd_, tmp.c_str(), 0);
      return st;
    }
    if (::fsync(fd_) != 0) return ErrnoStatus("syncing " + dir_, errno);
    return Status::Ok();
  }

 private:
  KeysDir(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}

  Status Refused(const std::string& name, int e) const {
    if (e == ELOOP || e == EINVAL) {
      return Status(Code::kIo, dir_ + "/" + name +
                                   " is not a regular file (a symbolic link?): refusing to read "
                                   "or replace it; remove it and run the command again");
    }
    return ErrnoStatus("reading " + dir_ + "/" + name, e);
  }

  static Status WriteAll(int fd, const std::string& text) {
    for (size_t done = 0; done < text.size();) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("writing authorized_keys", errno);
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  static std::string RandomHex() {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return buf;
  }

  int fd_ = -1;
  std::string dir_;
};

}  // namespace

Status Trust::WriteAuthorizedKeys(const std::vector<TrustedHost>& hosts) const {
  std::string path = AuthorizedKeysPath();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  passwd* pw = ::getpwnam(s_.ssh.user.c_str());
  HASYNC_ASSIGN_OR_RETURN(KeysDir keys, KeysDir::Open(dir, pw));
  HASYNC_ASSIGN_OR_RETURN(std::string old, keys.Read(name));
  std::string kept;
  std::istringstream in(old);
  for (std::string line; std::getline(in, line);) {
    if (line.find(" " + Marker(s_.node_name)) == std::string::npos) kept += line + "\n";
  }
  HASYNC_ASSIGN_OR_RETURN(std::string self, SelfPath());
  std::string config = s_.path;
  if (char* real = ::realpath(s_.path.c_str(), nullptr)) {
    config = real;
    std::free(real);
  }
  if (self.find('"') != std::string::npos || config.find('"') != std::string::npos) {
    return Status(Code::kConfig, "the program or settings path contains a double quote");
  }
  std::string text = kept;
  for (const auto& h : hosts) {
    // The forced command runs whatever the client asks for: only the serve side, with this
    // node's settings, bound to the node name the key belongs to (serve refuses a hello that
    // claims another); restrict turns off forwarding, agent, X11 and the pty.
    text += "command=\"" + ServeCommand(self, config, h.PeerName()) + "\",restrict,from=\"" +
            FromPatterns(h.host) + "\" " + h.key + " " + Marker(s_.node_name) + h.host + "\n";
  }
  return keys.Replace(name, text, pw);
}

std::string ServeCommand(const std::string& program, const std::string& config,
                         const std::string& peer) {
  return ShellQuote(program) + " serve --stdio --config " + ShellQuote(config) + " --peer " +
         ShellQuote(peer);
}

Status Trust::WriteKnownHosts(const std::vector<TrustedHost>& hosts) const {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  std::string text;
  for (const auto& h : hosts) {
    if (!h.host_key.empty()) text += KnownHostsName(h.host, h.port) + " " + h.host_key + "\n";
  }
  return WriteFileAtomic(*env, s_.ssh.known_hosts, std::as_bytes(std::span(text)));
}

Status Trust::Add(TrustedHost h) {
  if (!ValidHostName(h.host)) {
    return Status(Code::kUsage, "'" + h.host + "' is not a host name or address");
  }
  if (h.port < 1 || h.port > 65535) return Status(Code::kUsage, "the port must be 1 to 65535");
  if (!ValidNodeName(h.PeerName())) {
    return Status(Code::kUsage, "'" + h.PeerName() +
                                    "' is not a node name: --name takes the peer's [node] name "
                                    "(1-64 letters, digits, '-', '_' or '.')");
  }
  HASYNC_ASSIGN_OR_RETURN(h.key, NormalizePublicKey(h.key));
  if (!h.host_key.empty()) {
    auto hk = NormalizePublicKey(h.host_key);
    if (!hk.ok()) return Status(Code::kUsage, "--host-key: " + hk.status().message());
    h.host_key = *hk;
  }
  HASYNC_ASSIGN_OR_RETURN(auto hosts, List());
  std::erase_if(hosts, [&](const TrustedHost& x) { return x.host == h.host; });
  hosts.push_back(h);
  return Save(hosts);
}

Status Trust::Remove(const std::string& host) {
  HASYNC_ASSIGN_OR_RETURN(auto hosts, List());
  size_t before = hosts.size();
  std::erase_if(hosts, [&](const TrustedHost& x) { return x.host == host; });
  if (hosts.size() == before) return Status(Code::kNotFound, host + " is not a trusted host");
  return Save(hosts);
}

Status Trust::PinHostKey(const std::string& host, const std::string& host_key) {
  HASYNC_ASSIGN_OR_RETURN(std::string hk, NormalizePublicKey(host_key));
  HASYNC_ASSIGN_OR_RETURN(auto hosts, List());
  for (auto& h : hosts) {
    if (h.host == host) {
      h.host_key = hk;
      return Save(hosts);
    }
  }
  return Status(Code::kNotFound, host + " is not a trusted host");
}

Result<std::string> Trust::FetchHostKey(const std::string& host, int port) const {
  HASYNC_ASSIGN_OR_RETURN(
      Output o, Run({"ssh-keyscan", "-T", std::to_string(std::max(1, s_.ssh.connect_timeout_s)),
                     "-p", std::to_string(port), "--", host}));
  std::string best;
  std::istringstream in(o.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string name, type, b64;
    f >> name >> type >> b64;
    if (type == "ssh-ed25519") return type + " " + b64;
    if (best.empty() && !type.empty()) best = type + " " + b64;
  }
  if (best.empty()) {
    return Status(Code::kUnreachable, "no sshd answered on " + host + " port " +
                                          std::to_string(port) +
                                          (o.err.empty() ? "" : ": " + Trim(o.err)));
  }
  return best;
}

std::string Trust::SshCommand(const TrustedHost& h, const std::string& remote,
                              int persist_s) const {
  std::vector<std::string> args = {"ssh",
                                   "-F",
                                   "/dev/null",
                                   "-i",
                                   IdentityPath(),
                                   "-o",
                                   "IdentitiesOnly=yes",
                                   "-o",
                                   "IdentityAgent=none",
                                   "-o",
                                   "BatchMode=yes",
                                   "-o",
                                   "StrictHostKeyChecking=yes",
                                   "-o",
                                   "UserKnownHostsFile=" + s_.ssh.known_hosts,
                                   "-o",
                                   "GlobalKnownHostsFile=/dev/null",
                                   "-o",
                                   "ConnectTimeout=" + std::to_string(s_.ssh.connect_timeout_s),
                                   "-o",
                                   "ServerAliveInterval=10",
                                   "-o",
                                   "ServerAliveCountMax=3",
                                   "-o",
                                   "Ciphers=" + s_.ssh.ciphers,
                                   "-o",
                                   "LogLevel=ERROR",
                                   "-p",
                                   std::to_string(h.port),
                                   "-l",
                                   s_.ssh.user};
  // ssh binds the control socket at ControlPath plus a 17-byte temporary suffix, and a Unix
  // socket's path holds 107 bytes: a longer state folder syncs without the kept connection.
  constexpr size_t kSunPath = 107, kHash = 40, kSuffix = 17;
  bool fits = ControlPath().size() - 2 + kHash + kSuffix <= kSunPath;  // "%C" becomes the hash
  if (persist_s > 0 && !fits) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      Log("ssh")->warn(
          "[ssh] keep_connection_s is not used: the state folder {} is too long a path for "
          "ssh's control socket (a Unix socket's path holds 107 bytes); each sync connects anew",
          s_.state_dir);
    }
  }
  if (persist_s > 0 && fits) {
    for (const std::string& o :
         std::vector<std::string>{"ControlMaster=auto", "ControlPath=" + ControlPath(),
                                  "ControlPersist=" + std::to_string(persist_s)}) {
      args.insert(args.end(), {"-o", o});
    }
  }
  args.insert(args.end(), {"--", h.host, remote});
  std::string cmd;
  for (const auto& a : args) {
    if (!cmd.empty()) cmd += ' ';
    cmd += ShellQuote(a);
  }
  return cmd;
}

void Trust::CloseSharedConnection(const TrustedHost& h) const {
  (void)RunProcess({"ssh", "-F", "/dev/null", "-o", "ControlPath=" + ControlPath(), "-O", "exit",
                    "-p", std::to_string(h.port), "-l", s_.ssh.user, "--", h.host});
}

Status ClassifySshFailure(const Status& st) {
  if (st.code() != Code::kPeer) return st;  // the peer answered: its own code stands
  const std::string& m = st.message();
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key verification failed") ||
      has("host key for") || has("No ED25519 host key is known") || has("host key is known")) {
    return Status(Code::kHostKey,
                  "changed, or never confirmed (`hasync trust test <host>` shows it; if the peer "
                  "was reinstalled, remove and add it again): " +
                      m);
  }
  if (has("Permission denied")) {
    return Status(Code::kAuth,
                  "on the peer, run `hasync trust add <this node> --key '<the output of `hasync "
                  "trust key` here>'`: " +
                      m);
  }
  if (has("Connection refused") || has("No route to host") || has("timed out") ||
      has("Could not resolve hostname") || has("Network is unreachable") ||
      has("Connection closed by") || has("Connection reset")) {
    return Status(Code::kUnreachable, m);
  }
  return st;
}

// The ssh command that reaches a trusted host's serve side.
Result<std::string> SshTransportTo(const Settings& s, const std::string& host, int persist_s) {
  Trust trust(s);
  HASYNC_ASSIGN_OR_RETURN(TrustedHost h, trust.Find(host));
  if (h.host_key.empty()) {
    return Status(Code::kHostKey, "the host key of " + host +
                                      " is not pinned yet: run `hasync trust test " + host +
                                      "` and confirm it");
  }
  HASYNC_RETURN_IF_ERROR(trust.LocalKey().status());
  return trust.SshCommand(h, "hasync serve --stdio", persist_s > 0 ? persist_s : s.ssh.persist_s);
}

}  // namespace hasync::engine
