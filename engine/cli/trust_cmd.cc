// `hasync trust key|add|list|remove|test`: the guide's Step 4, exchanging ssh keys between
// the two nodes and managing the trusted hosts (engine/node/trust.h), and its Test Connection,
// which pins the peer's sshd host key on first use once the operator confirmed it.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/node/trust.h"
#include "engine/session/pull.h"

namespace hasync::engine {
namespace {

// key, list
struct ListOptions {
  Output output;
};

struct AddOptions {
  std::string host;
  std::string key;       // the peer's `hasync trust key`
  int port = 0;          // 0: [ssh] port
  std::string host_key;  // empty: fetched and confirmed on `trust test`
  std::string name;      // the peer's node name; empty: the host as given
};

struct RemoveOptions {
  std::string host;
};

struct TestOptions {
  std::string host;
  bool accept_host_key = false;  // pin an unpinned host key without asking
  Output output;
};

int CmdTrustKey(const CommonOptions& common, const ListOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto key = Trust(*s).LocalKey();
  if (!key.ok()) return Fail(key.status(), o.output);
  auto fp = KeyFingerprint(*key);
  if (o.output.json) {
    std::cout << nlohmann::json{{"key", *key}, {"fingerprint", fp.ok() ? *fp : ""}}.dump(2)
              << std::endl;
  } else {
    std::cout << *key << " hasync@" << s->node_name << "\n";
  }
  return 0;
}

int CmdTrustAdd(const CommonOptions& common, const AddOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  TrustedHost h{o.host, o.port ? o.port : s->ssh.port, o.key, o.host_key, o.name};
  Status st = Trust(*s).Add(h);
  if (!st.ok()) return Fail(st);
  auto fp = KeyFingerprint(o.key);
  std::printf("%s is trusted as node %s (key %s)%s\n", o.host.c_str(), h.PeerName().c_str(),
              fp.ok() ? fp->c_str() : "?",
              o.host_key.empty() ? "; its host key is pinned on the first `hasync trust test`"
                                 : "; host key pinned");
  return 0;
}

int CmdTrustList(const CommonOptions& common, const ListOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto hosts = Trust(*s).List();
  if (!hosts.ok()) return Fail(hosts.status(), o.output);
  if (o.output.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& h : *hosts) {
      auto fp = KeyFingerprint(h.key);
      auto hfp =
          h.host_key.empty() ? Result<std::string>(std::string()) : KeyFingerprint(h.host_key);
      j.push_back({{"host", h.host},
                   {"port", h.port},
                   {"key_fingerprint", fp.ok() ? *fp : ""},
                   {"host_key_fingerprint", hfp.ok() ? *hfp : ""}});
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  if (hosts->empty()) std::printf("no trusted hosts\n");
  for (const auto& h : *hosts) {
    auto fp = KeyFingerprint(h.key);
    auto hfp = h.host_key.empty() ? Result<std::string>(std::string("not pinned"))
                                  : KeyFingerprint(h.host_key);
    std::printf("%s port %d  key %s  host key %s\n", h.host.c_str(), h.port,
                fp.ok() ? fp->c_str() : "?", hfp.ok() ? hfp->c_str() : "?");
  }
  return 0;
}

int CmdTrustRemove(const CommonOptions& common, const RemoveOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  Status st = Trust(*s).Remove(o.host);
  if (!st.ok()) return Fail(st);
  std::printf("%s is no longer trusted\n", o.host.c_str());
  return 0;
}

// Trust on first use, with the operator's eyes: fetches h's sshd host key, shows its
// fingerprint, and pins it once confirmed (on a terminal, or by --accept-host-key); returns
// the pinned key.
Result<std::string> PinHostKeyOnFirstUse(Trust& trust, const TrustedHost& h, const TestOptions& o) {
  auto hk = trust.FetchHostKey(h.host, h.port);
  if (!hk.ok()) return hk.status();
  auto fp = KeyFingerprint(*hk);
  std::fprintf(stderr, "%s's sshd host key is %s %s\n", h.host.c_str(),
               hk->substr(0, hk->find(' ')).c_str(), fp.ok() ? fp->c_str() : "?");
  bool yes = o.accept_host_key;
  if (!yes && ::isatty(0)) {
    std::fprintf(stderr,
                 "Does it match the key shown on %s (ssh-keygen -lf on its host key)? "
                 "[y/N] ",
                 h.host.c_str());
    std::string answer;
    std::getline(std::cin, answer);
    yes = answer == "y" || answer == "Y" || answer == "yes";
  }
  if (!yes) {
    return Status(Code::kHostKey, "the host key of " + h.host +
                                      " was not confirmed (confirm it, or pass "
                                      "--accept-host-key, or give --host-key to trust add)");
  }
  HASYNC_RETURN_IF_ERROR(trust.PinHostKey(h.host, *hk));
  return hk;
}

// The guide's Test Connection: ssh with this node's key and the pinned host key, hello, the
// version gate. Prints "Test was successful" or the reason, with its own exit code.
int CmdTrustTest(const CommonOptions& common, const TestOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  Trust trust(*s);
  auto h = trust.Find(o.host);
  if (!h.ok()) return Fail(h.status(), o.output);
  if (h->host_key.empty()) {
    auto pinned = PinHostKeyOnFirstUse(trust, *h, o);
    if (!pinned.ok()) return Fail(pinned.status(), o.output);
    h->host_key = *pinned;
  }
  auto key = trust.LocalKey();
  if (!key.ok()) return Fail(key.status(), o.output);
  auto peer = TestChannel(*s, trust.SshCommand(*h, "hasync serve --stdio"));
  if (!peer.ok()) {
    Status why = ClassifySshFailure(peer.status());
    if (!o.output.json) std::printf("Test failed: %s\n", why.ToString().c_str());
    return Fail(why, o.output);
  }
  if (o.output.json) {
    std::cout << nlohmann::json{{"result", "ok"},
                                {"peer", peer->node_name},
                                {"software_version", peer->software_version}}
                     .dump(2)
              << std::endl;
  } else {
    std::printf("Test was successful: %s runs %s\n", peer->node_name.c_str(),
                peer->software_version.c_str());
  }
  return 0;
}

}  // namespace

std::vector<Command> RegisterTrust(CLI::App& root, const CommonOptions& common) {
  auto* trust = root.add_subcommand("trust", "trusted hosts: this node's key and its peers'");
  trust->require_subcommand(1);
  auto key_o = std::make_shared<ListOptions>();
  auto* key = trust->add_subcommand("key", "print this node's public key (created on first use)");
  key->add_flag("--json", key_o->output.json, "print as JSON");
  auto add_o = std::make_shared<AddOptions>();
  auto* add =
      trust->add_subcommand("add", "trust a peer: its key may start this node's serve side");
  add->add_option("host", add_o->host, "the peer's host name or address")->required();
  add->add_option("--key", add_o->key, "the peer's key, as `hasync trust key` prints it there")
      ->required();
  add->add_option("--port", add_o->port, "the peer's sshd port (default: [ssh] port)")
      ->check(CLI::Range(1, 65535));
  add->add_option("--host-key", add_o->host_key,
                  "the peer's sshd host key to pin (else fetched on `trust test`)");
  add->add_option("--name", add_o->name,
                  "the peer's node name ([node] name there; default: the host as given): its "
                  "key may serve only a peer that says it is this node");
  auto list_o = std::make_shared<ListOptions>();
  auto* list = trust->add_subcommand("list", "list the trusted hosts");
  list->add_flag("--json", list_o->output.json, "print as JSON");
  auto remove_o = std::make_shared<RemoveOptions>();
  auto* remove = trust->add_subcommand("remove", "stop trusting a peer");
  remove->add_option("host", remove_o->host, "the peer")->required();
  auto test_o = std::make_shared<TestOptions>();
  auto* test = trust->add_subcommand("test", "Test Connection: ssh, hello and the version gate");
  test->add_option("host", test_o->host, "the trusted peer")->required();
  test->add_flag("--accept-host-key", test_o->accept_host_key,
                 "pin the peer's sshd host key if none is pinned yet, without asking");
  test->add_flag("--json", test_o->output.json, "print the result as JSON");
  return {{key, [key_o, &common] { return CmdTrustKey(common, *key_o); }},
          {add, [add_o, &common] { return CmdTrustAdd(common, *add_o); }},
          {list, [list_o, &common] { return CmdTrustList(common, *list_o); }},
          {remove, [remove_o, &common] { return CmdTrustRemove(common, *remove_o); }},
          {test, [test_o, &common] { return CmdTrustTest(common, *test_o); }}};
}

}  // namespace hasync::engine
