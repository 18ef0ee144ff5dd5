// The watchdog's rule: a loop that stops beating for longer than the limit is a hung daemon,
// unless it is busy in work bounded by its own timeouts.
#include "engine/node/loop_watch.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

TEST(LoopWatchTest, ALoopSilentPastTheLimitIsNamedAndBusyOnesAreExempt) {
  LoopWatch w(1000);
  int sched = w.Add("scheduler", 0);
  int hb = w.Add("heartbeat", 0);
  EXPECT_EQ(w.Stalled(1000), "");
  w.Beat(sched, 900);
  EXPECT_EQ(w.Stalled(1500), "the heartbeat loop made no progress for 1 s");
  w.Beat(hb, 1500);
  EXPECT_EQ(w.Stalled(1500), "");
  // A sync: hours without a beat are fine while busy; the clock starts again when it ends.
  w.SetBusy(sched, true, 2000);
  w.Beat(hb, 3600 * 1000);
  EXPECT_EQ(w.Stalled(3600 * 1000), "");
  w.SetBusy(sched, false, 3600 * 1000);
  EXPECT_EQ(w.Stalled(3600 * 1000 + 1000), "");
  w.Beat(hb, 3600 * 1000 + 2000);
  EXPECT_EQ(w.Stalled(3600 * 1000 + 2001), "the scheduler loop made no progress for 2 s");
}

}  // namespace
}  // namespace hasync::engine
