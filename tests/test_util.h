// Helpers shared by the tests: temporary trees, files, shell commands, free ports, and a
// byte-for-byte tree comparison through the manifests. Needs nothing from engine/, so the
// lower modules' unit tests use it too; a whole local pair is tests/pair.h.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "common/env.h"
#include "snapshot/scanner.h"
#include "verify/manifest_diff.h"

namespace hasync::testing {

namespace fs = std::filesystem;

inline std::string MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "hasync-test-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  return tmpl;
}

inline void WriteFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

struct Cmd {
  int code;
  std::string out;  // stdout and stderr
};

// Runs a shell command; its exit code and everything it printed.
inline Cmd Shell(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  return Cmd{WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// A loopback port nobody listens on now.
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return s;
}

inline snapshot::Manifest ScanTree(const std::string& root) {
  Env* env = Env::Default().value();
  snapshot::ScanOptions o{.threads = 2};
  auto r = snapshot::ScanRoot(*env, root, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r->manifest) : snapshot::Manifest();
}

// Empty when the two trees are identical in content, types, targets, modes and mtimes.
inline std::string TreeDiff(const std::string& a, const std::string& b) {
  auto diffs = verify::DiffManifests(ScanTree(a), ScanTree(b), {.compare_mtime = true});
  std::string out;
  for (const auto& d : diffs) out += d.path + ": " + d.what + "\n";
  return out;
}

// A small tree with every kind of entry.
inline void MakeSampleTree(const std::string& root) {
  WriteFile(root + "/certs/server.pem", "-----BEGIN CERTIFICATE-----\n" + std::string(3000, 'A'));
  WriteFile(root + "/certs/ca.pem", RandomBytes(1500, 1));
  WriteFile(root + "/app/big.bin", RandomBytes(6 << 20, 2));
  WriteFile(root + "/app/medium.bin", RandomBytes(300000, 3));
  WriteFile(root + "/app/empty.txt", "");
  WriteFile(root + "/users/local.db", RandomBytes(70000, 4));
  fs::create_directories(root + "/empty/dir");
  fs::create_symlink("../certs/server.pem", root + "/app/server-link");
  fs::create_hard_link(root + "/users/local.db", root + "/users/local-hard.db");
  ::chmod((root + "/certs/ca.pem").c_str(), 0600);
  WriteFile(root + "/scratch.tmp", "excluded");
}

// The pid of a stopped process (state T, as HASYNC_KILL_AT=<point>:N:stop leaves it) whose
// command line holds `needle`, or 0 after 20 s.
inline pid_t WaitForStopped(const std::string& needle) {
  // A process that exits while its /proc files are read fails the read (ESRCH), which
  // libstdc++'s filebuf throws as an exception whatever the stream's mask (CI saw it once with
  // another test's processes ending beside this one): such a process is not the one sought.
  auto slurp = [](const std::string& path) {
    try {
      std::ifstream in(path, std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), {});
    } catch (const std::exception&) {
      return std::string();
    }
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& d : std::filesystem::directory_iterator("/proc")) {
      std::string name = d.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmdline = slurp(d.path().string() + "/cmdline");
      for (char& c : cmdline) {
        if (c == '\0') c = ' ';
      }
      if (cmdline.find(needle) == std::string::npos) continue;
      std::string stat = slurp(d.path().string() + "/stat");
      size_t paren = stat.rfind(')');
      if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T') {
        return static_cast<pid_t>(std::stol(name));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace hasync::testing
