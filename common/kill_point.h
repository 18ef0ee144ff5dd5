// Kill points for crash tests (as RocksDB's TEST_KILL_RANDOM): KillPoint("commit.journal")
// SIGKILLs the process the Nth time it is reached when HASYNC_KILL_AT="commit.journal:N" is set.
// "commit.journal:N:stop" SIGSTOPs it there instead: the test changes what it wants to race in,
// then sends SIGCONT. Unset, it costs one branch. Only tests set the variable.
#pragma once

namespace hasync {

void KillPoint(const char* name);

}  // namespace hasync
