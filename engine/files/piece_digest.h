// A file's digest (common/hash.h's FileDigest) computed from its block hashes as they arrive
// piece by piece, in any order: each piece's hashes are folded in once every piece before it
// is, then freed. So the Primary serving a large file never holds all its block hashes at once
// (a 100 GiB file has 105 MB of them) unless it means to keep them (to learn them into its
// manifest). The value is the same as FileDigest's over all the hashes in order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace hasync::engine {

// Hash64 of `len` zero bytes (len <= snapshot::kBlockSize): a hole's block, which the Primary
// never reads nor sends and the Secondary never writes, hashed as the zeros it reads as.
uint64_t ZeroBlockHash(uint64_t len);

struct PieceDigestOptions {
  uint64_t size = 0;         // the file's size: FileDigest's seed
  uint64_t pieces = 0;       // how many pieces Add will be given, numbered 0..pieces-1
  bool keep_hashes = false;  // keep every hash for TakeHashes (bounded by the caller)
};

// Thread-safe: pieces may be added from several workers at once. Pieces waiting for an
// earlier one are held until it comes: callers hand out pieces in order, so that is at most
// the pieces in flight.
class PieceDigest {
 public:
  explicit PieceDigest(const PieceDigestOptions& o);
  ~PieceDigest();
  PieceDigest(const PieceDigest&) = delete;
  PieceDigest& operator=(const PieceDigest&) = delete;

  // Piece `index`'s block hashes, in block order. REQUIRES: index < pieces, each given once.
  void Add(uint64_t index, std::vector<uint64_t> hashes);
  // REQUIRES: every piece added. FileDigest(every piece's hashes in order, size).
  uint64_t Finish();
  // Every hash in order when keep_hashes (else empty). REQUIRES: Finish called.
  std::vector<uint64_t> TakeHashes();

 private:
  struct Stream;
  std::mutex mu_;
  std::unique_ptr<Stream> stream_;
  bool keep_;
  uint64_t next_ = 0;  // the first piece not folded in yet
  std::map<uint64_t, std::vector<uint64_t>> waiting_;
  std::vector<uint64_t> kept_;
};

}  // namespace hasync::engine
