// `hasync daemon`: the node's long-running part. Five threads, each with its own connection to
// the node state (SQLite serialises them): the scheduler (this thread), the heartbeat, the
// notifier, the status pages' server, and the watchdog, which tells systemd (Type=notify,
// WatchdogSec) and the daemon lock (the Secondary's heartbeat, through this node's serve side)
// that every loop is making progress. A stop signal lets a running sync finish.
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "engine/db/db_serve.h"
#include "engine/files/change_feed.h"
#include "engine/node/etcd_leader.h"
#include "engine/node/heartbeat.h"
#include "engine/node/loop_watch.h"
#include "engine/node/node.h"
#include "engine/node/notify.h"
#include "engine/node/status_pages.h"
#include "engine/node/trust.h"
#include "engine/state/daemon_lock.h"

namespace hasync::engine {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

// Long enough to reach the next scheduled sync, at most a day.
int DaemonPersistSeconds(const Settings& s) {
  return static_cast<int>(
      std::min<int64_t>(86400, std::max<int64_t>(s.ssh.persist_s, s.run_every_s + 300)));
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One of the daemon's loops as the watchdog sees it.
struct Watched {
  LoopWatch& watch;
  int loop;
  void Beat() const { watch.Beat(loop, SteadyMs()); }
  // Work bounded by its own timeouts (a sync, a batch of emails, a promotion) and a loop that
  // has ended are not stalls.
  void Busy(bool busy) const { watch.SetBusy(loop, busy, SteadyMs()); }
};

// Sleeps until `until_ms` (steady clock) or a stop, in short steps; a sleeping loop is a
// healthy one.
void SleepUntil(int64_t until_ms, const Watched& w) {
  while (!g_stop && SteadyMs() < until_ms) {
    w.Beat();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min<int64_t>(200, until_ms - SteadyMs())));
  }
  w.Beat();
}

// Fault injection for the watchdog's tests: HASYNC_TEST_WEDGE=<loop> wedges that loop (it stops
// making progress, as a deadlock would) until the daemon is stopped.
void WedgeIfAsked(const std::string& loop) {
  const char* w = std::getenv("HASYNC_TEST_WEDGE");
  if (w == nullptr || loop != w) return;
  Log("daemon")->warn("HASYNC_TEST_WEDGE: the {} loop wedges here", loop);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// How long a loop may go without progress before the daemon counts as hung: longer than any
// loop's own bounded work (an ssh heartbeat's connect and keep-alive timeouts, an SMTP
// delivery). HASYNC_STALL_LIMIT_MS shortens it for the tests.
int64_t StallLimitMs() {
  if (const char* v = std::getenv("HASYNC_STALL_LIMIT_MS")) {
    int64_t ms = std::atoll(v);
    if (ms > 0) return ms;
  }
  return DaemonLiveness::kDefaultStallMs;
}

// The watchdog: while no loop has stalled, beat the daemon lock and, under systemd with
// WatchdogSec, send WATCHDOG=1 (twice per watchdog period). A stalled loop stops both: systemd
// restarts the daemon, and the Secondary's heartbeat sees a hung Primary as one not serving.
void WatchdogLoop(const Settings& s, LoopWatch& watch, DaemonLock& lock) {
  auto log = Log("daemon");
  uint64_t usec = 0;
  bool systemd = sd_watchdog_enabled(0, &usec) > 0;
  int64_t period_ms =
      systemd ? std::clamp<int64_t>(static_cast<int64_t>(usec / 2000), 50, 1000) : 1000;
  if (systemd) log->info("systemd watchdog: {} ms; keep-alive every {} ms", usec / 1000, period_ms);
  auto state = NodeState::Open(s);
  std::string said;
  while (!g_stop) {
    std::string stalled = watch.Stalled(SteadyMs());
    if (stalled.empty()) {
      lock.Beat();
      if (systemd) sd_notify(0, "WATCHDOG=1");
      if (!said.empty()) log->warn("every loop makes progress again");
      said.clear();
    } else if (said.empty()) {
      said = stalled;
      std::string message = stalled + ": the daemon is hung; its watchdog keep-alive stops (" +
                            (systemd ? std::string("systemd restarts it")
                                     : std::string("not under systemd: restart it")) +
                            "), and the Secondary's heartbeat counts this node as not serving";
      log->error("{}", message);
      if (state.ok()) (void)(*state)->AddEvent("daemon-hung", message);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(period_ms));
  }
}

// The command reaching this node's peer: --transport, else ssh to the trusted host. Syncs share
// the daemon's kept connection (persist); heartbeats never do: a kept connection can outlive
// the peer's sshd, and the guide's heartbeat is "tries to connect to the Primary".
Result<std::string> PeerCommand(const Settings& s, const std::string& transport,
                                const std::string& host, bool persist) {
  if (!transport.empty()) return transport;
  if (host.empty()) {
    return Status(Code::kConfig, "[secondary] primary (or [ha] peer) is not set: no peer");
  }
  return SshTransportTo(s, host, persist ? DaemonPersistSeconds(s) : 0);
}

// The Primary to sync from and to watch: [secondary] primary (or [ha] peer), unless etcd names
// another leader (several Secondaries: the one that won the key after a fail-over), which is then
// reached as the trusted host bound to its node name (`hasync trust add --name`), or by its
// name. A --transport command may say {node}: it is replaced by the leader's node name (the
// configured host while etcd names none).
struct Source {
  std::string host;
  std::string transport;
};
Source CurrentSource(const Settings& s, const std::string& transport, const std::string& host,
                     const EtcdLeader* leader) {
  Source src{host, transport};
  std::string holder = leader == nullptr ? "" : leader->Look(EtcdLeader::Clock::now()).holder;
  bool follow = !holder.empty() && holder != s.node_name && ValidNodeName(holder);
  if (!transport.empty()) {
    const std::string name = follow ? holder : host;
    for (size_t at = src.transport.find("{node}"); at != std::string::npos;
         at = src.transport.find("{node}", at + name.size())) {
      src.transport.replace(at, 6, name);
    }
    return src;
  }
  if (!follow) return src;
  src.host = holder;
  auto trusted = Trust(s).List();
  if (trusted.ok()) {
    for (const TrustedHost& t : *trusted) {
      if (t.name == holder) src.host = t.host;
    }
  }
  return src;
}

struct HeartbeatCounters {
  std::atomic<int> failures{0};
  std::atomic<int64_t> total{0};
  std::atomic<bool> first_check_done{false};
};

int64_t ToSteadyMs(EtcdLeader::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The etcd lease loop ([failover] etcd): holds the leader key on a Primary, publishes the member
// record on a Secondary (engine/node/etcd_leader.h).
void LeaseLoop(const Settings& s, EtcdLeader& leader, const Watched& w) {
  auto state = NodeState::Open(s);
  if (!state.ok()) {
    Log("etcd")->error("the etcd lease loop not started: {}", state.status().message());
    w.Busy(true);
    return;
  }
  Log("etcd")->info("etcd {} (leader key {}, lease {} s, renewed every {} ms)",
                    s.failover.etcd.size() == 1
                        ? s.failover.etcd[0]
                        : std::to_string(s.failover.etcd.size()) + " endpoints",
                    s.failover.leader_key(), s.failover.lease_ttl_s, s.failover.loop_wait_ms());
  while (!g_stop) {
    WedgeIfAsked("etcd");
    auto me = (*state)->Get();
    int64_t next = SteadyMs() + 1000;
    if (me.ok()) next = ToSteadyMs(leader.Step(*me, **state));
    SleepUntil(next, w);
  }
  // A clean stop hands the key on now rather than after lease_ttl.
  leader.Shutdown();
}

void HeartbeatLoop(const Settings& s, const std::string& transport, HeartbeatCounters& counters,
                   const Watched& w, EtcdLeader* leader) {
  auto log = Log("heartbeat");
  auto state = NodeState::Open(s);
  if (!state.ok()) {
    log->error("heartbeat not started: {}", state.status().message());
    counters.first_check_done = true;
    w.Busy(true);
    return;
  }
  NodeState& st = **state;
  std::string peer = s.ha.peer;
  std::string shown = peer.empty() ? std::string("the --transport peer") : peer;
  Heartbeat hb(
      shown,
      {.interval_ms = s.failover.heartbeat_interval_ms,
       .recheck_ms = s.failover.recheck_interval_ms,
       .failures = s.failover.failures_before_failover,
       .promote = s.failover.promote},
      {.state = [&] { return st.Get(); },
       .probe = [&]() -> Result<Hello> {
         if (transport.empty() && peer.empty()) {
           return Status(Code::kConfig, "no peer configured");
         }
         Source src = CurrentSource(s, transport, peer, leader);
         HASYNC_ASSIGN_OR_RETURN(std::string cmd, PeerCommand(s, src.transport, src.host, false));
         HASYNC_ASSIGN_OR_RETURN(Hello hello, TestChannel(s, cmd));
         auto me = st.Get();
         if (leader != nullptr && me.ok() && !me->serving() && leader->LeaderMissing()) {
           return Status(Code::kPeer,
                         "it answers, but no node has held etcd's leader key for a whole lease "
                         "TTL: the Primary lost its lease");
         }
         return hello;
       },
       .witness_sees_primary = s.failover.witness_url.empty()
                                   ? std::function<bool()>()
                                   : [&s, log]() {
                                       auto code = HttpGetStatus(s.failover.witness_url, 5000);
                                       log->info("witness {}: {}", s.failover.witness_url,
                                                 code.ok() ? std::to_string(*code)
                                                           : code.status().message());
                                       return code.ok() && *code >= 200 && *code < 300;
                                     },
       .arbiter = leader == nullptr ? std::function<Status()>()
                                    : [&st, leader, &w]() {
                                        w.Busy(true);  // etcd calls, each bounded
                                        Status a = leader->TryAcquire(st).status();
                                        w.Busy(false);
                                        return a;
                                      },
       .promote =
           [&](const std::string& why) {
             w.Busy(true);  // the promote hook may take a while
             Status p = PromoteNode(s, why).status();
             w.Busy(false);
             return p;
           },
       .supersede = [&](const std::string& reason) { return st.SetSuperseded(reason).status(); },
       .event =
           [&](const std::string& kind, const std::string& message) {
             (void)st.AddEvent(kind, message);
           }});
  if (transport.empty() && peer.empty()) {
    log->warn("no peer configured ([secondary] primary or [ha] peer): no heartbeat");
    counters.first_check_done = true;
    w.Busy(true);
    return;
  }
  log->info("heartbeat to {} every {} ms (re-check {} ms, {} failures before {})", shown,
            s.failover.heartbeat_interval_ms, s.failover.recheck_interval_ms,
            s.failover.failures_before_failover,
            s.failover.promote ? "promoting" : "alerting (Keep in Standby)");
  int before = 0;
  while (!g_stop) {
    WedgeIfAsked("heartbeat");
    int64_t next = hb.Tick(SteadyMs());
    if (hb.failures() > before) counters.total += hb.failures() - before;
    before = hb.failures();
    counters.failures = hb.failures();
    counters.first_check_done = true;
    SleepUntil(next, w);
  }
}

void NotifierLoop(const Settings& s, const Watched& w) {
  auto state = NodeState::Open(s);
  if (!state.ok()) {
    Log("notify")->error("notifications not started: {}", state.status().message());
    w.Busy(true);
    return;
  }
  // A daemon starting after a long stop does not mail old news.
  (void)(*state)->ExpirePending(NowMs() - 3600 * 1000);
  while (!g_stop) {
    WedgeIfAsked("notifier");
    w.Busy(true);  // up to 50 deliveries, each bounded by libcurl's timeout
    PumpNotifications(s, **state, NowMs());
    w.Busy(false);
    SleepUntil(SteadyMs() + 500, w);
  }
  PumpNotifications(s, **state, NowMs());  // what the last moments recorded
}

Result<NodeSnapshot> Snapshot(const Settings& s, NodeState& state,
                              const HeartbeatCounters& counters, const EtcdLeader* leader) {
  NodeSnapshot n;
  n.node_name = s.node_name;
  n.now_ms = NowMs();
  HASYNC_ASSIGN_OR_RETURN(n.node, state.Get());
  HASYNC_ASSIGN_OR_RETURN(auto last, state.History(1));
  if (!last.empty()) n.last = last.front();
  HASYNC_ASSIGN_OR_RETURN(n.last_ok, state.Last("ok"));
  HASYNC_ASSIGN_OR_RETURN(n.results, state.ResultCounts());
  n.heartbeat_failures = counters.failures;
  n.heartbeat_failures_total = counters.total;
  n.peer_unchecked = !counters.first_check_done;
  if (leader != nullptr) {
    auto now = EtcdLeader::Clock::now();
    n.etcd.enabled = true;
    n.etcd.not_serving = leader->NotServing(n.node, now);
    auto v = leader->Look(now);
    n.etcd.lease_valid = v.lease_valid;
    n.etcd.epoch = n.node.epoch;
    n.etcd.holder = v.holder;
    n.etcd.problem = v.problem;
  }
  if (s.database.enabled() && n.node.mode == Mode::kPrimary) {
    auto slots = SlotRetention(s.database.conninfo);
    if (slots.ok()) n.slots = *slots;
  }
  return n;
}

// The scheduler's sync: from the Primary (or the node etcd names), as the node; a sync may take
// hours, bounded by its own channel's timeouts, so its loop is busy, not stalled, meanwhile.
Result<double> ScheduledSync(const Settings& s, const std::string& transport, NodeState& state,
                             EtcdLeader* leader, const Watched& w) {
  auto log = Log("daemon");
  if (s.primary.empty() && transport.empty()) {
    Status st(Code::kConfig,
              "a sync is due, and [secondary] primary is not set: nothing to sync from");
    log->error("{}", st.message());
    (void)state.RecordSkipped("scheduled", "", st, "failed");
    return st;
  }
  Source src = CurrentSource(s, transport, s.primary, leader);
  log->info("scheduled sync from {}",
            src.host.empty() ? std::string("the --transport command") : src.host);
  SyncOptions o;
  HASYNC_ASSIGN_OR_RETURN(o.transport_command, PeerCommand(s, src.transport, src.host, true));
  if (leader != nullptr) {
    // Fencing: only the node etcd names as leader, in the epoch it names, is synced from.
    o.judge_source = [leader](const Hello& peer) { return leader->JudgeSource(peer); };
  }
  w.Busy(true);
  auto r = RunNodeSync(s, o, "scheduled", src.host);
  w.Busy(false);
  if (!r.ok()) {
    log->error("scheduled sync failed: {}", r.status().ToString());
    return r.status();
  }
  return r->duration_s;
}

}  // namespace

Status RunDaemon(const Settings& s, const std::string& transport) {
  HASYNC_ASSIGN_OR_RETURN(auto state, NodeState::Open(s));
  auto log = Log("daemon");
  LoopWatch watch(StallLimitMs());
  HASYNC_ASSIGN_OR_RETURN(std::unique_ptr<EtcdLeader> leader, EtcdLeader::Create(s));
  // The beat's staleness a reader takes for a hung daemon: the watchdog beats every second while
  // no loop has stalled, so 10 s (3 s at the least, for the tests' short stall limits) past
  // the stall limit the watchdog already applies.
  HASYNC_ASSIGN_OR_RETURN(
      DaemonLock daemon_lock,
      DaemonLock::Acquire(
          s.state_dir, std::max<int64_t>(3000, std::min<int64_t>(watch.stall_limit_ms(), 10000))));
  // The change feed ([sync] track_changes): this node's scans, as Secondary and as Primary,
  // walk only the folders changed since the last one. Without it every scan walks everything.
  std::unique_ptr<ChangeFeed> feed;
  if (s.track_changes && !s.roots.empty()) {
    auto f = ChangeFeed::Start(s);
    if (f.ok()) {
      feed = std::move(*f);
    } else {
      log->warn("not tracking changes (every sync walks the whole roots): {}",
                f.status().ToString());
    }
  }
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  if (s.run_every_s < 3600) {
    log->warn(
        "Run Every is {} minutes: the guide recommends 60 minutes or more, and syncs "
        "must never overlap",
        s.run_every_s / 60);
  }
  HeartbeatCounters counters;
  std::unique_ptr<StatusServer> pages;
  if (!s.status.listen.empty() || !s.status.lb_listen.empty()) {
    HASYNC_ASSIGN_OR_RETURN(auto pages_state, NodeState::Open(s));
    auto shared = std::shared_ptr<NodeState>(std::move(pages_state));
    auto mu = std::make_shared<std::mutex>();
    HASYNC_ASSIGN_OR_RETURN(pages,
                            StatusServer::Start(s.status, [&s, shared, mu, &counters, &leader]() {
                              std::lock_guard<std::mutex> lock(*mu);
                              return Snapshot(s, *shared, counters, leader.get());
                            }));
  }
  Watched sched_loop{watch, watch.Add("scheduler", SteadyMs())};
  Watched heartbeat_loop{watch, watch.Add("heartbeat", SteadyMs())};
  Watched notifier_loop{watch, watch.Add("notifier", SteadyMs())};
  std::thread heartbeat(
      [&] { HeartbeatLoop(s, transport, counters, heartbeat_loop, leader.get()); });
  std::thread lease;
  if (leader) {
    Watched lease_loop{watch, watch.Add("etcd", SteadyMs())};
    lease = std::thread([&, lease_loop] { LeaseLoop(s, *leader, lease_loop); });
  }
  std::thread notifier([&] { NotifierLoop(s, notifier_loop); });
  // systemd (Type=notify): started once the pages listen and the loops run; keep-alives follow.
  sd_notify(0, "READY=1");
  std::thread watchdog([&] { WatchdogLoop(s, watch, daemon_lock); });

  Scheduler sched(
      s.start_minute, s.run_every_s,
      {.state = [&] { return state->Get(); },
       .sync = [&]() { return ScheduledSync(s, transport, *state, leader.get(), sched_loop); },
       .event =
           [&](const std::string& kind, const std::string& message) {
             log->warn("{}", message);
             (void)state->AddEvent(kind, message);
           }});
  log->info("daemon started: StartTime {:02d}:{:02d} GMT, every {} s", s.start_minute / 60,
            s.start_minute % 60, s.run_every_s);
  // Tests move the daemon's clock (and only its schedule's) with HASYNC_CLOCK_OFFSET_S, to
  // reach a StartTime without waiting for it.
  int64_t offset = 0;
  if (const char* o = std::getenv("HASYNC_CLOCK_OFFSET_S")) offset = std::atoll(o);
  if (offset != 0) {
    log->warn("the schedule's clock is offset by {} s (HASYNC_CLOCK_OFFSET_S)", offset);
  }
  while (!g_stop) {
    WedgeIfAsked("scheduler");
    int64_t now = NowMs() / 1000 + offset;
    int64_t next = sched.Tick(now);
    // Short sleeps: a stop signal or a saved schedule is noticed within a second.
    if (next > now) SleepUntil(SteadyMs() + 500, sched_loop);
  }
  sd_notify(0, "STOPPING=1");
  heartbeat.join();
  notifier.join();
  if (lease.joinable()) lease.join();
  watchdog.join();
  pages.reset();
  feed.reset();
  if (transport.empty()) {
    Trust trust(s);
    std::vector<std::string> hosts = {s.primary};
    if (s.ha.peer != s.primary) hosts.push_back(s.ha.peer);
    for (const std::string& host : hosts) {
      if (host.empty()) continue;
      auto h = trust.Find(host);
      if (h.ok()) trust.CloseSharedConnection(*h);
    }
  }
  log->info("daemon stopped");
  return Status::Ok();
}

}  // namespace hasync::engine
