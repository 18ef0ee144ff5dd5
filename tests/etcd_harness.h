// A real three-member etcd cluster for the tests (Debian's etcd-server): each member on free
// loopback ports, its own data folder under one temporary folder, short heartbeat and election
// timeouts so elections and the smallest lease (1.5 election timeouts: 1 s here) are quick.
// Members are started by fork/exec and tracked by pid; Kill(i) is SIGKILL, Restart(i) starts the
// member again on its data. The destructor kills only its own pids and removes its folder.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace hasync::testing {

class EtcdCluster {
 public:
  static constexpr const char* kEtcd = "/usr/bin/etcd";
  static constexpr int kElectionTimeoutMs = 500;

  // Starts `members` members and waits (at most 20 s) until every one is healthy; nullptr (and a
  // test failure naming the logs) otherwise.
  static std::unique_ptr<EtcdCluster> Start(int members = 3) {
    if (::access(kEtcd, X_OK) != 0) {
      ADD_FAILURE() << kEtcd << " is missing: apt-get install etcd-server etcd-client";
      return nullptr;
    }
    auto c = std::unique_ptr<EtcdCluster>(new EtcdCluster());
    c->dir_ = MakeTempDir();
    std::set<int> used;
    auto port = [&used] {
      int p = 0;
      while (p == 0 || used.count(p)) p = FreeLoopbackPort();
      used.insert(p);
      return p;
    };
    std::string initial;
    for (int i = 0; i < members; ++i) {
      Member m{.name = "m" + std::to_string(i), .client_port = port(), .peer_port = port()};
      initial += (i ? "," : "") + m.name + "=" + m.PeerUrl();
      c->members_.push_back(m);
    }
    c->initial_cluster_ = initial;
    for (int i = 0; i < members; ++i) c->Launch(i);
    if (!c->WaitHealthy(std::chrono::seconds(20))) {
      std::string logs;
      for (int i = 0; i < members; ++i) logs += c->LogTail(i);
      ADD_FAILURE() << "etcd did not become healthy in 20 s:\n" << logs;
      return nullptr;
    }
    return c;
  }

  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) Kill(static_cast<int>(i));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int size() const { return static_cast<int>(members_.size()); }
  std::string endpoint(int i) const { return members_[i].ClientUrl(); }
  std::vector<std::string> endpoint_list() const {
    std::vector<std::string> out;
    for (const auto& m : members_) out.push_back(m.ClientUrl());
    return out;
  }
  // "http://127.0.0.1:P1,http://127.0.0.1:P2,...", as [failover] etcd takes them.
  std::string endpoints() const {
    std::string out;
    for (const auto& m : members_) out += (out.empty() ? "" : ",") + m.ClientUrl();
    return out;
  }

  // SIGKILL to member i (if running) and waits for it to be gone.
  void Kill(int i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    ::waitpid(m.pid, nullptr, 0);
    m.pid = 0;
  }

  // Starts member i again on its data folder and waits until it is healthy.
  bool Restart(int i) {
    Kill(i);
    Launch(i);
    return WaitMemberHealthy(i, std::chrono::seconds(20));
  }

  // Until every running member says it is healthy (it has a leader), or the time is up.
  bool WaitHealthy(std::chrono::seconds limit) {
    for (int i = 0; i < size(); ++i) {
      if (members_[i].pid > 0 && !WaitMemberHealthy(i, limit)) return false;
    }
    return true;
  }

  bool WaitMemberHealthy(int i, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Shell("ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=1s --endpoints=" +
                endpoint(i) + " endpoint health")
              .code == 0) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string LogTail(int i) const {
    std::string log = ReadFile(dir_ + "/" + members_[i].name + ".log");
    return members_[i].name + ": ..." + log.substr(log.size() > 2000 ? log.size() - 2000 : 0) +
           "\n";
  }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = 0;
    std::string ClientUrl() const { return "http://127.0.0.1:" + std::to_string(client_port); }
    std::string PeerUrl() const { return "http://127.0.0.1:" + std::to_string(peer_port); }
  };

  EtcdCluster() = default;

  void Launch(int i) {
    Member& m = members_[i];
    std::string data = dir_ + "/" + m.name;
    bool existing = std::filesystem::exists(data);
    std::vector<std::string> args = {
        kEtcd,
        "--name=" + m.name,
        "--data-dir=" + data,
        "--listen-client-urls=" + m.ClientUrl(),
        "--advertise-client-urls=" + m.ClientUrl(),
        "--listen-peer-urls=" + m.PeerUrl(),
        "--initial-advertise-peer-urls=" + m.PeerUrl(),
        "--initial-cluster=" + initial_cluster_,
        "--initial-cluster-state=" + std::string(existing ? "existing" : "new"),
        "--initial-cluster-token=hasync-test-" + std::to_string(::getpid()),
        "--heartbeat-interval=50",
        "--election-timeout=" + std::to_string(kElectionTimeoutMs),
        "--logger=zap",
        "--log-level=warn",
        "--enable-v2=false",
    };
    std::string log = dir_ + "/" + m.name + ".log";
    std::vector<char*>
        argv;  // built before fork: the child of a threaded process must not allocate
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(127);
      ::execv(kEtcd, argv.data());
      ::_exit(127);
    }
    m.pid = pid;
  }

  std::string dir_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace hasync::testing
