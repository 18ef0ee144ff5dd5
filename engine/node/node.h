// The HA node around the sync engine: syncs run as the node (refused on a Primary or an Active
// Secondary, DESIGN.md invariant 6; recorded in the history), promotion with its hook, and the
// sync schedule (the guide's StartTime and Run Every) as a pure function of the clock.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/config/settings.h"
#include "engine/session/pull.h"
#include "engine/state/node_state.h"

namespace hasync::engine {

// A sync as the node runs it: trigger is manual (`hasync sync`), failover (`failover sync`) or
// scheduled. The history gets one row whatever happens (ok, failed, skipped when another sync
// runs).
Result<SyncSummary> RunNodeSync(const Settings& s, const SyncOptions& o, const std::string& trigger,
                                const std::string& peer);

// `failover mode primary`: Primary and Active now, a new generation, an event, the promote hook
// ([ha] promote_hook, with HASYNC_EVENT=promoted, HASYNC_NODE and HASYNC_GENERATION in its
// environment, beside PATH, HOME, LANG, LC_* and TZ only: common/process.h). Returns false when the
// node already was (idempotent: nothing runs again).
Result<bool> PromoteNode(const Settings& s, const std::string& why);

// The first scheduled run: the first StartTime (GMT) strictly after the schedule was saved
// (saving at 14:00 with StartTime 13:00 runs first at 13:00 the next day).
int64_t FirstRun(int64_t anchor_s, int start_minute);
// The first run strictly after after_s: FirstRun + k * every_s.
int64_t NextRun(int64_t anchor_s, int start_minute, int64_t every_s, int64_t after_s);

// The daemon's scheduler, driven by whoever owns the clock (tests use a fake one).
class Scheduler {
 public:
  struct Hooks {
    std::function<Result<NodeInfo>()> state;
    // Runs one scheduled sync; returns its wall seconds.
    std::function<Result<double>()> sync;
    std::function<void(const std::string& kind, const std::string& message)> event;
  };
  Scheduler(int start_minute, int64_t every_s, Hooks hooks)
      : start_minute_(start_minute), every_s_(every_s), hooks_(std::move(hooks)) {}

  // Runs the sync that is due at now_s, if any and if this node may sync (HA enabled,
  // Secondary, Standby). Returns the time it wants to be called next.
  int64_t Tick(int64_t now_s);
  int64_t next() const { return next_; }
  int runs() const { return runs_; }

 private:
  int start_minute_;
  int64_t every_s_;
  Hooks hooks_;
  int64_t anchor_ = -1;
  int64_t next_ = 0;
  int runs_ = 0;
};

// `hasync daemon`: runs the schedule until SIGTERM or SIGINT (a running sync finishes first).
// transport: a command instead of ssh to [secondary] primary (tests, custom tunnels).
Status RunDaemon(const Settings& s, const std::string& transport);

}  // namespace hasync::engine
