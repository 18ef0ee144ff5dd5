// The leader lease's rule; the reasoning is in the header.
#include "engine/node/leader_lease.h"

#include <algorithm>

namespace hasync::engine {

LeaseTiming DeriveLeaseTiming(int64_t lease_ttl_s) {
  std::chrono::milliseconds ttl(lease_ttl_s * 1000);
  std::chrono::milliseconds loop_wait = ttl / 3;
  // As FailoverSettings::etcd_retry_ms: at most 10 s.
  std::chrono::milliseconds retry =
      std::min<std::chrono::milliseconds>(std::chrono::seconds(10), (ttl - loop_wait) / 2);
  return LeaseTiming{.ttl = ttl, .loop_wait = loop_wait, .retry = retry};
}

void LeaderLease::Renewed(TimePoint sent_at, int64_t remaining_ttl_s) {
  if (remaining_ttl_s <= 0) {
    held_ = false;
    return;
  }
  if (held_ && sent_at < last_sent_) return;  // an older renewal answered late: no news
  held_ = true;
  last_sent_ = sent_at;
  ttl_ = std::min(timing_.ttl, std::chrono::milliseconds(remaining_ttl_s * 1000));
}

LeaderLease::TimePoint LeaderLease::ServeUntil() const { return last_sent_ + ttl_ - timing_.retry; }

}  // namespace hasync::engine
