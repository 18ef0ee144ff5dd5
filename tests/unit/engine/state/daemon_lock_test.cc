// The daemon's liveness as another process reads it: the lock held for the daemon's life, the
// beat, one daemon per state folder, and a probe that never takes the lock from a starting one.
#include "engine/state/daemon_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <filesystem>

#include "tests/test_util.h"

namespace hasync::engine {
namespace {

TEST(DaemonLockTest, HeldForTheDaemonsLifeBeatenAndExclusive) {
  std::string dir = testing::MakeTempDir();
  auto none = ReadDaemonLiveness(dir);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->running) << "no daemon ever ran here";
  {
    auto lock = DaemonLock::Acquire(dir, 5000);
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    // A probe (even many) leaves the lock to its holder and to a restart after it.
    for (int i = 0; i < 3; ++i) {
      auto l = ReadDaemonLiveness(dir);
      ASSERT_TRUE(l.ok());
      EXPECT_TRUE(l->running);
      EXPECT_EQ(l->pid, ::getpid());
      EXPECT_EQ(l->stall_limit_ms, 5000);
      EXPECT_FALSE(l->hung());
    }
    // A second daemon (another process: OFD locks are per open file, so this one would do)
    // is refused naming the first.
    auto second = DaemonLock::Acquire(dir, 5000);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), Code::kBusy);
    EXPECT_NE(second.status().message().find("(pid " + std::to_string(::getpid()) + ")"),
              std::string::npos)
        << second.status().message();
    // No beat for longer than the limit: hung, though the lock is held.
    std::string path = dir + "/daemon.lock";
    timespec old[2] = {{::time(nullptr) - 10, 0}, {::time(nullptr) - 10, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old, 0), 0);
    auto stale = ReadDaemonLiveness(dir);
    EXPECT_TRUE(stale->hung()) << stale->beat_age_ms;
    lock->Beat();
    EXPECT_FALSE(ReadDaemonLiveness(dir)->hung());
  }
  EXPECT_FALSE(ReadDaemonLiveness(dir)->running) << "released with the holder";
  // A holder killed outright releases it too (the kernel does).
  pid_t child = ::fork();
  if (child == 0) {
    auto lock = DaemonLock::Acquire(dir, 5000);
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 200 && !ReadDaemonLiveness(dir)->running; ++i) ::usleep(10000);
  EXPECT_TRUE(ReadDaemonLiveness(dir)->running);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(ReadDaemonLiveness(dir)->running);
  EXPECT_TRUE(DaemonLock::Acquire(dir, 5000).ok()) << "a restarted daemon takes it";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hasync::engine
