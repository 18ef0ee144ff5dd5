// The Primary's database side: answers a database request with a full copy taken in the
// snapshot its logical slot exported, or with the changes the slot holds since the Secondary's
// position up to a marker this sync writes; moves the slot forward only when the Secondary says
// its commit is durable.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/config/settings.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/peer_link.h"
#include "snapshot/pg.h"
#include "transport/channel.h"
#include "transport/frame.h"

namespace hasync::engine {

struct DbServeOptions {
  // `hasync verify`: never a full copy; the Secondary rolls back.
  bool verify_only = false;
};

class DbSource {
 public:
  DbSource(const Settings& s, PeerLink& link, const std::string& peer_node);
  ~DbSource();

  // Sends database begin ... database end (and, for a pinned request, verify tables).
  Status Serve(const DbRequest& req, const DbServeOptions& options = {});
  // After the Secondary's "committed": the slot may drop what the Secondary now has.
  Status Confirm();

  // hasync_<peer node>: one slot per Secondary.
  static std::string SlotName(const std::string& peer_node);
  // The node whose slot `slot` is (SlotName read back); nullopt when it cannot be read back.
  static std::optional<std::string> PeerOfSlot(const std::string& slot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The WAL each Secondary's hasync slot keeps on this server (for /metrics, /status.json and
// `hasync status`): (slot, bytes); a sync's temporary slots are left out.
Result<std::vector<std::pair<std::string, uint64_t>>> SlotRetention(const std::string& conninfo);

}  // namespace hasync::engine
