// Syncs as the node runs them (manual, scheduled, fail-over, repair), each recorded in the
// history with its outcome; promotion and its hook; the schedule's arithmetic.
#include "engine/node/node.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/process.h"
#include "engine/node/trust.h"

namespace hasync::engine {

namespace {

// What a finished sync leaves in the node state: its history row, the generation and epoch its
// data now descends from, and its events. Inside the caller's transaction.
void RecordOutcome(NodeState& state, const Result<SyncSummary>& r, const HistoryRow& h,
                   const std::string& trigger, const std::string& from) {
  Status st = state.FinishSync(h);
  if (!st.ok()) Log("node")->error("recording the sync in the history: {}", st.message());
  if (r.ok()) {
    // The data now descends from the source's generations (invariant 8).
    st = state.AdoptLineage(r->source_lineage);
    if (st.ok()) st = state.AdoptEpoch(r->source_epoch);
    if (!st.ok()) Log("node")->error("recording the generation: {}", st.message());
    if (!r->generation_warning.empty()) {
      (void)state.AddEvent("split-brain-forced", r->generation_warning);
    }
    if (r->db.full && !r->db_full_expected) {
      // Invariant 4: a full resync the Primary's slot forced is recorded and notified.
      (void)state.AddEvent("full-resync", "the database was copied whole: " + r->db.reason);
    }
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", r->duration_s);
    (void)state.AddEvent("sync-completed", trigger + " sync from " + from + " completed in " +
                                               took + " s: " + std::to_string(r->files_changed) +
                                               " files changed, " +
                                               std::to_string(r->files_deleted) + " deleted, " +
                                               std::to_string(r->db.changes) + " database changes");
  } else if (h.result == "failed") {
    (void)state.AddEvent(
        r.status().code() == Code::kGeneration ? "split-brain" : "sync-failed",
        trigger + " sync from " + from + " failed (" + h.error_code + "): " + h.error);
  }
}

}  // namespace

Result<SyncSummary> RunNodeSync(const Settings& s, const SyncOptions& o, const std::string& trigger,
                                const std::string& peer) {
  // A dry run changes nothing on this node: not a sync of the history, and allowed anywhere.
  if (o.dry_run) return RunSync(s, o);
  HASYNC_ASSIGN_OR_RETURN(auto state, NodeState::Open(s));
  HASYNC_ASSIGN_OR_RETURN(NodeInfo node, state->Get());
  if (node.mode == Mode::kPrimary || node.status == NodeStatus::kActive) {
    Status refused(Code::kNodeRole,
                   std::string("this node is ") +
                       (node.mode == Mode::kPrimary ? "the Primary" : "an Active Secondary") +
                       " and never syncs from another node (it would overwrite what it serves); "
                       "run `failover mode secondary` first if it should follow " +
                       (peer.empty() ? std::string("its Primary") : peer) + " again");
    (void)state->RecordSkipped(trigger, peer, refused);
    return refused;
  }
  std::string from = peer.empty() ? std::string("the Primary") : peer;
  Result<int64_t> begun = Status(Code::kIo, "not begun");
  HASYNC_RETURN_IF_ERROR(state->InTransaction([&] {
    begun = state->BeginSync(trigger, peer);
    if (begun.ok())
      (void)state->AddEvent("sync-started", trigger + " sync from " + from + " started");
  }));
  HASYNC_ASSIGN_OR_RETURN(int64_t id, begun);
  auto r = RunSync(s, o);
  HistoryRow h;
  h.id = id;
  if (r.ok()) {
    h.result = "ok";
    static_cast<SyncTotals&>(h) = *r;
    h.db_changes = r->db.changes;
    h.db_full = r->db.full;
    h.db_reason = r->db.reason;
    if (!r->db.full && !r->db.schema_changes.empty()) {
      h.db_reason = "schema changes carried:";
      for (size_t i = 0; i < r->db.schema_changes.size(); ++i) {
        h.db_reason += (i ? "; " : " ") + r->db.schema_changes[i];
      }
    } else if (!r->db.full && !r->db.copied_whole.empty()) {
      h.db_reason = "tables copied whole:";
      for (const auto& t : r->db.copied_whole) h.db_reason += " " + t;
    }
    nlohmann::ordered_json phases = nlohmann::ordered_json::object();
    for (const auto& [name, secs] : r->phases) phases[name] = secs;
    h.phases_json = phases.dump();
  } else {
    h.result = r.status().code() == Code::kBusy ? "skipped" : "failed";
    h.error_code = CodeName(r.status().code());
    h.error = r.status().message();
  }
  // The history row, the adopted generation and the events in one commit (one fsync).
  Status committed = state->InTransaction([&] { RecordOutcome(*state, r, h, trigger, from); });
  if (!committed.ok()) Log("node")->error("recording the sync: {}", committed.message());
  return r;
}

Result<bool> PromoteNode(const Settings& s, const std::string& why) {
  HASYNC_ASSIGN_OR_RETURN(auto state, NodeState::Open(s));
  HASYNC_ASSIGN_OR_RETURN(bool changed, state->Promote(why));
  if (!changed) return false;
  HASYNC_ASSIGN_OR_RETURN(NodeInfo n, state->Get());
  Log("node")->warn("this node is now the Primary (generation {}): {}", n.generation, why);
  if (!s.ha.promote_hook.empty()) {
    auto out =
        RunProcess({"/bin/sh", "-c", s.ha.promote_hook},
                   ProcessOptions{.env_add = {"HASYNC_EVENT=promoted", "HASYNC_NODE=" + s.node_name,
                                              "HASYNC_GENERATION=" + std::to_string(n.generation)},
                                  .hook_environment = true});
    std::string result = !out.ok()          ? out.status().message()
                         : out->status == 0 ? "ok"
                                            : "exit status " + std::to_string(out->status);
    if (!out.ok() || out->status != 0) {
      Log("node")->error("the promote hook failed ({}): {}", result,
                         out.ok() ? out->err.substr(0, 500) : "");
    }
    (void)state->AddEvent("promote-hook", "promote hook: " + result);
  }
  return true;
}

int64_t FirstRun(int64_t anchor_s, int start_minute) {
  int64_t day = anchor_s - ((anchor_s % 86400) + 86400) % 86400;
  int64_t t = day + int64_t{start_minute} * 60;
  return t > anchor_s ? t : t + 86400;
}

int64_t NextRun(int64_t anchor_s, int start_minute, int64_t every_s, int64_t after_s) {
  int64_t first = FirstRun(anchor_s, start_minute);
  if (first > after_s) return first;
  int64_t k = (after_s - first) / every_s + 1;
  return first + k * every_s;
}

int64_t Scheduler::Tick(int64_t now_s) {
  auto state = hooks_.state();
  if (!state.ok()) {
    hooks_.event("schedule-error", state.status().message());
    return now_s + 60;
  }
  if (anchor_ != state->schedule_anchor) {  // saved again: restart from the next StartTime
    anchor_ = state->schedule_anchor;
    next_ = NextRun(anchor_, start_minute_, every_s_, now_s - 1);
  }
  if (now_s < next_) return next_;
  bool may_sync =
      state->ha_enabled && state->mode == Mode::kSecondary && state->status == NodeStatus::kStandby;
  if (may_sync) {
    ++runs_;
    auto took = hooks_.sync();
    if (took.ok() && *took > every_s_ / 2.0) {
      hooks_.event("sync-slow",
                   "the scheduled sync took " + std::to_string(static_cast<int64_t>(*took)) +
                       " s, more than half of Run Every (" + std::to_string(every_s_) +
                       " s): syncs risk overlapping; lengthen Run Every or find what is slow");
    }
    now_s += took.ok() ? static_cast<int64_t>(*took) : 0;
  }
  next_ = NextRun(anchor_, start_minute_, every_s_, now_s);
  return next_;
}

}  // namespace hasync::engine
