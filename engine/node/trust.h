// Trusted hosts (the guide's "Exchange SSH keys between servers" and "Manage Trusted Hosts"):
// this node's ed25519 key pair, the peers whose keys may start this node's serve side (as a
// forced command in the authorized_keys sshd reads), the peers' pinned sshd host keys, and the
// ssh command line that reaches a trusted peer. Keys are checked before they reach a file, so a
// pasted key cannot smuggle in authorized_keys options.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/config/settings.h"

namespace hasync::engine {

struct TrustedHost {
  std::string host;      // host name or address, as the operator gave it
  int port = 22;         // its sshd port
  std::string key;       // its hasync public key ("ssh-ed25519 AAAA...")
  std::string host_key;  // its sshd host key, pinned; empty until given or confirmed
  // Its node name ([node] name there, what its hello claims): the forced command binds the key
  // to it. Empty: the host as given (and for hosts trusted before the binding existed).
  std::string name;

  const std::string& PeerName() const { return name.empty() ? host : name; }
};

// Checks "type base64 [comment]" with a known key type; returns "type base64".
Result<std::string> NormalizePublicKey(const std::string& key);
// SHA256 fingerprint of "type base64", as ssh-keygen -l shows it.
Result<std::string> KeyFingerprint(const std::string& key);

class Trust {
 public:
  explicit Trust(const Settings& s);

  // This node's public key, creating the pair (<state_dir>/ssh/id_ed25519) on first use.
  Result<std::string> LocalKey();
  std::string IdentityPath() const;
  std::string ControlPath() const;  // <state_dir>/ssh/cm-%C: a shared connection's socket

  Result<std::vector<TrustedHost>> List() const;
  Result<TrustedHost> Find(const std::string& host) const;  // kNotFound when not trusted
  // Records a peer: its key into authorized_keys as a forced command that can only start
  // `hasync serve --stdio --peer <its node name>`, from the peer's addresses only; its host
  // key, when given, pinned. authorized_keys is written through a handle on its folder, which
  // must be the ssh account's (or root's) and writable by nobody else; the file ends up 0600
  // and the account's, and a symbolic link at its place is refused, never followed.
  Status Add(TrustedHost h);
  Status Remove(const std::string& host);
  // Pins a host key for an already trusted host.
  Status PinHostKey(const std::string& host, const std::string& host_key);
  // Fetches the peer's sshd host key (ssh-keyscan) without trusting it.
  Result<std::string> FetchHostKey(const std::string& host, int port) const;

  // The shell command that reaches `h`'s serve side over ssh with this node's identity, its
  // pinned host keys only, BatchMode and time-outs. `remote` is what is asked for (the forced
  // command runs regardless).
  // persist_s > 0: share one connection between runs (OpenSSH's ControlMaster, its socket in
  // <state_dir>/ssh), kept open that many seconds after the last use.
  std::string SshCommand(const TrustedHost& h, const std::string& remote, int persist_s = 0) const;
  // Closes a shared connection to h, if one is open.
  void CloseSharedConnection(const TrustedHost& h) const;

 private:
  Status Save(const std::vector<TrustedHost>& hosts) const;
  Status WriteAuthorizedKeys(const std::vector<TrustedHost>& hosts) const;
  Status WriteKnownHosts(const std::vector<TrustedHost>& hosts) const;
  std::string AuthorizedKeysPath() const;

  const Settings& s_;
};

// Turns the failure of an ssh channel into the code that says why: kAuth (key refused),
// kHostKey (host key unknown or changed), kUnreachable (no route, refused, time-out, unknown
// name). Only kPeer (the channel ended) is looked at; other failures are returned unchanged.
Status ClassifySshFailure(const Status& st);

// Quotes s for /bin/sh.
std::string ShellQuote(const std::string& s);

// The forced command of a trusted peer's authorized_keys line: this program's serve side with
// these settings, bound to the peer's node name.
std::string ServeCommand(const std::string& program, const std::string& config,
                         const std::string& peer);

// The ssh command that reaches a trusted host's serve side (kNotFound when not trusted,
// kHostKey when its host key is not pinned yet).
Result<std::string> SshTransportTo(const Settings& s, const std::string& host, int persist_s = 0);

}  // namespace hasync::engine
