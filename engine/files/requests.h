// The Secondary's file requests: which files to ask for, in which order, and how they are
// batched into frames. Pure: no I/O, so the batching is unit-tested on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/binary.h"
#include "engine/files/plan.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {

// The file actions of a plan, largest first (stable), so the big files start while small ones
// fill the gaps.
std::vector<Action*> RequestOrder(std::vector<Action>& actions);

// Collects encoded requests into kFileRequests payloads (a count, then the requests) of about
// max_bytes each.
class RequestBatcher {
 public:
  explicit RequestBatcher(size_t max_bytes = 1 << 20) : max_bytes_(max_bytes) {}

  // Adds r; returns a full batch's payload when this one filled it.
  std::optional<std::vector<std::byte>> Add(const FileRequest& r);
  // The last, partial batch (nothing when empty).
  std::optional<std::vector<std::byte>> Flush();

 private:
  size_t max_bytes_;
  Encoder batch_;
  uint64_t count_ = 0;
};

}  // namespace hasync::engine
