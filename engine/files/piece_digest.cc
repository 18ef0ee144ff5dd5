// PieceDigest: xxh3's streaming form over the block hashes, which gives the one-shot value
// FileDigest computes (xxHash guarantees the two agree; piece_digest_test checks it here). This
// build of xxh3 is the generic one: it hashes 8 bytes per 8 KiB block, so its speed is noise.
#include "engine/files/piece_digest.h"

#include <span>

#include "common/hash.h"
#include "snapshot/manifest.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace hasync::engine {

uint64_t ZeroBlockHash(uint64_t len) {
  static const std::vector<std::byte> zeros(snapshot::kBlockSize);
  static const uint64_t full = Hash64(zeros);
  if (len == snapshot::kBlockSize) return full;
  return Hash64(std::span<const std::byte>(zeros.data(), len));
}

struct PieceDigest::Stream {
  XXH3_state_t* state = XXH3_createState();
  ~Stream() { XXH3_freeState(state); }
};

PieceDigest::PieceDigest(const PieceDigestOptions& o)
    : stream_(std::make_unique<Stream>()), keep_(o.keep_hashes) {
  XXH3_64bits_reset_withSeed(stream_->state, o.size);
}

PieceDigest::~PieceDigest() = default;

void PieceDigest::Add(uint64_t index, std::vector<uint64_t> hashes) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.emplace(index, std::move(hashes));
  for (auto it = waiting_.begin(); it != waiting_.end() && it->first == next_;
       it = waiting_.erase(it), ++next_) {
    const std::vector<uint64_t>& h = it->second;
    XXH3_64bits_update(stream_->state, h.data(), h.size() * sizeof(uint64_t));
    if (keep_) kept_.insert(kept_.end(), h.begin(), h.end());
  }
}

uint64_t PieceDigest::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  return XXH3_64bits_digest(stream_->state);
}

std::vector<uint64_t> PieceDigest::TakeHashes() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(kept_);
}

}  // namespace hasync::engine
