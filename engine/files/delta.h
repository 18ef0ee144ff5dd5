// The rolling delta for content that shifted (insertions, deletions): rsync's algorithm (a
// rolling weak sum, a strong sum per block) with xxh3 as the strong sum, on hasync's Env, its
// pieces and its limits. The Secondary signs its old file (in parallel pieces), the Primary
// computes a delta of each 64 MiB range of its new file against that signature, and the
// Secondary rebuilds each range from its old file. Both directions are untrusted: a signature or
// delta that breaks a limit is one clear error (kProtocol).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/beneath.h"
#include "common/env.h"
#include "common/status.h"

namespace hasync::engine {

// Files below this size travel whole or by blocks: a delta would not save a round of work.
constexpr uint64_t kDeltaMinSize = 1 << 20;
// Signatures above this size are not sent (files of about 64 GiB and more use blocks).
constexpr size_t kMaxSignatureBytes = 4 << 20;

struct SignatureParams {
  uint32_t block_len = 0;   // about sqrt(size), as rsync's: 512 B to 1 MiB
  uint32_t strong_len = 0;  // 8 bytes: xxh3-64 of the block
};
SignatureParams SignatureParamsFor(uint64_t size);
// The signature's size for a file of `size` bytes, to decide before computing it.
uint64_t SignatureBytes(uint64_t size);

// The rolling signature of a whole file, computed in pieces on `threads` threads. With
// `beneath`, path is relative to that root and opened beneath its handle (the Secondary's own
// file: a symlink swapped in must not make it sign, and leak, a file outside the root).
Result<std::string> ComputeSignature(Env& env, const std::string& path, uint64_t size,
                                     unsigned threads, const RootDir* beneath = nullptr);

// A signature received from the Secondary, checked and indexed for delta. One per thread.
class LoadedSignature;
Result<std::shared_ptr<LoadedSignature>> LoadSignature(std::span<const std::byte> bytes);

// Computes the delta of `file`'s range [offset, offset + len) against sig, filling `hashes`
// with the xxh3 of each kBlockSize block of the range (offset is block-aligned). Returns nullopt
// when the delta would exceed `cap` bytes: the work cap, after which blocks are cheaper.
Result<std::optional<std::string>> ComputeDelta(const std::shared_ptr<LoadedSignature>& sig,
                                                RandomAccessFile& file, uint64_t offset,
                                                uint64_t len, size_t cap, uint64_t* hashes);

// Applies a delta against `basis` (basis_size bytes) and hands its output, in order, to `out`.
// The output must be exactly `expect_len` bytes; a delta that reads outside the basis, is
// malformed or produces another length is kProtocol.
Status ApplyDelta(RandomAccessFile& basis, uint64_t basis_size, std::span<const std::byte> delta,
                  uint64_t expect_len,
                  const std::function<Status(std::span<const std::byte>)>& out);

}  // namespace hasync::engine
