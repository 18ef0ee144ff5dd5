// Notifications (the guide's Notification Settings; DESIGN.md "Every event ... goes to the
// notifiers"): email over SMTP (libcurl) and an optional command receiving every event.
//
// Events are written to the node state by whoever has them (a sync, a promotion, the
// heartbeat); the daemon's notifier thread delivers them from there (the outbox), so a slow or
// failing mail server never blocks a sync or a fail-over. A failed delivery is logged and
// retried with a doubling wait (from [notify] retry_interval), at most kMaxAttempts times.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/state/node_state.h"

namespace hasync::engine {

constexpr int kMaxNotifyAttempts = 8;

// Does an event of this kind get an email under these settings? Sync completions when
// on_sync_completion; failures, promotion and split brain when on_failure.
bool EmailFor(const NotifySettings& n, const std::string& kind);
std::string EmailSubject(const std::string& node, const std::string& kind);

// One email to [notify] email now (`hasync notify test` and the notifier). kUnreachable when
// the server cannot be reached, kPeer when it refuses; the message names the server (without
// any password in its URL) and what it said.
Status SendEmail(const Settings& s, const std::string& subject, const std::string& body);

// Runs [notify] command for one event, with HASYNC_EVENT, HASYNC_EVENT_ID, HASYNC_MESSAGE,
// HASYNC_TIME (ISO 8601 UTC), HASYNC_NODE and HASYNC_GENERATION in its environment, beside
// PATH, HOME, LANG, LC_* and TZ only (the daemon's own environment stays out of it).
Status RunEventCommand(const Settings& s, const EventRow& e, uint64_t generation);

// smtp://user:secret@host:25 -> smtp://host:25: what logs and `config show` may print. The user
// information is everything up to the last '@', so a password holding '/', '?' or '#' is hidden
// whole.
std::string MaskUrlPassword(const std::string& url);

// GET url (libcurl); the HTTP status, or kUnreachable. The heartbeat's witness uses it.
Result<long> HttpGetStatus(const std::string& url, int timeout_ms);

// Delivers what is due in the outbox once; returns how many deliveries succeeded.
int PumpNotifications(const Settings& s, NodeState& state, int64_t now_ms);

}  // namespace hasync::engine
