// The rolling delta: rsync's algorithm with a Rabin-Karp weak sum and xxh3 strong sums. It
// replaced librsync (through protocol 8), whose strong sums are BLAKE2 or MD4: BLAKE2 was 45% of
// the busy time of a 256 MiB file with ten insertions, while every block hasync rebuilds is
// checked against its xxh3 hash anyway. Formats (engine/FORMAT.md):
//   signature: magic "hsg1", block length, strong length (8), all big-endian u32, then the
//     file's size (big-endian u64), then per block its weak sum (big-endian u32) and its xxh3
//     (little-endian u64); the last block may be short.
//   delta: operations until an end: 0 end, 1 literal (varint length, bytes), 2 copy (varint
//     offset in the Secondary's file, varint length).
#include "engine/files/delta.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/binary.h"
#include "common/hash.h"
#include "common/parallel.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

using snapshot::kBlockSize;

namespace {

constexpr uint32_t kSigMagic = 0x68736731;  // "hsg1"
constexpr size_t kSigHeader = 20;           // magic, block length, strong length, file size
constexpr uint32_t kStrongLen = 8;
constexpr size_t kSigEntry = 4 + kStrongLen;
constexpr uint32_t kMinBlockLen = 512;
constexpr uint32_t kMaxBlockLen = 1 << 20;
constexpr size_t kChunk = 1 << 20;
constexpr uint64_t kSigPiece = 32 << 20;  // the Secondary signs its file in pieces this large
constexpr size_t kLiteralFlush = 64 << 10;
constexpr size_t kMaxCandidates = 8;  // blocks of one weak sum tried at one position

enum : uint8_t { kOpEnd = 0, kOpLiteral = 1, kOpCopy = 2 };

// Rabin-Karp over a window: sum of b[i] * M^(n-1-i), mod 2^32 (librsync's multiplier).
constexpr uint32_t kMul = 0x08104225;

uint32_t Power(uint32_t m, uint64_t n) {
  uint32_t r = 1;
  while (n > 0) {
    if (n & 1) r *= m;
    m *= m;
    n >>= 1;
  }
  return r;
}

uint32_t WeakSum(const std::byte* p, size_t n) {
  // Four bytes a step: the multiplications of one step do not wait on each other.
  constexpr uint32_t m2 = kMul * kMul, m3 = m2 * kMul, m4 = m3 * kMul;
  uint32_t h = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    h = h * m4 + static_cast<uint32_t>(p[i]) * m3 + static_cast<uint32_t>(p[i + 1]) * m2 +
        static_cast<uint32_t>(p[i + 2]) * kMul + static_cast<uint32_t>(p[i + 3]);
  }
  for (; i < n; ++i) h = h * kMul + static_cast<uint32_t>(p[i]);
  return h;
}

void PutBe32(std::byte* p, uint32_t v) {
  p[0] = std::byte(v >> 24);
  p[1] = std::byte(v >> 16);
  p[2] = std::byte(v >> 8);
  p[3] = std::byte(v);
}

uint32_t GetBe32(const std::byte* p) {
  return uint32_t{static_cast<uint8_t>(p[0])} << 24 | uint32_t{static_cast<uint8_t>(p[1])} << 16 |
         uint32_t{static_cast<uint8_t>(p[2])} << 8 | uint32_t{static_cast<uint8_t>(p[3])};
}

Status ReadFully(RandomAccessFile& f, uint64_t offset, std::span<std::byte> buf,
                 const std::string& what) {
  HASYNC_ASSIGN_OR_RETURN(size_t n, f.Read(offset, buf));
  if (n != buf.size()) return Status(Code::kAborted, what + " shrank while it was being read");
  return Status::Ok();
}

uint64_t BlockCountOf(uint64_t size, uint32_t block_len) {
  return (size + block_len - 1) / block_len;
}

}  // namespace

class LoadedSignature {
 public:
  uint32_t block_len = 0;
  uint64_t size = 0;
  std::vector<uint32_t> weak;
  std::vector<uint64_t> strong;
  // The full blocks, ordered by weak sum, and a bit per (mixed) weak sum for a quick miss.
  std::vector<std::pair<uint32_t, uint32_t>> by_weak;
  std::vector<uint64_t> filter;
  unsigned filter_shift = 0;
  uint32_t full_blocks = 0;  // blocks of block_len bytes; a shorter last one is not in by_weak

  bool MaybeHas(uint32_t w) const {
    uint32_t bit = (w * 0x9E3779B1u) >> filter_shift;
    return (filter[bit >> 6] >> (bit & 63)) & 1;
  }
};

SignatureParams SignatureParamsFor(uint64_t size) {
  auto root = static_cast<uint64_t>(std::sqrt(static_cast<double>(size)));
  root = (root + 63) / 64 * 64;
  return SignatureParams{
      static_cast<uint32_t>(std::clamp<uint64_t>(root, kMinBlockLen, kMaxBlockLen)), kStrongLen};
}

uint64_t SignatureBytes(uint64_t size) {
  SignatureParams p = SignatureParamsFor(size);
  return kSigHeader + BlockCountOf(size, p.block_len) * kSigEntry;
}

Result<std::string> ComputeSignature(Env& env, const std::string& path, uint64_t size,
                                     unsigned threads, const RootDir* beneath) {
  SignatureParams p = SignatureParamsFor(size);
  const uint64_t blocks = BlockCountOf(size, p.block_len);
  std::string sig(kSigHeader + blocks * kSigEntry, '\0');
  auto* out = reinterpret_cast<std::byte*>(sig.data());
  PutBe32(out, kSigMagic);
  PutBe32(out + 4, p.block_len);
  PutBe32(out + 8, kStrongLen);
  PutBe32(out + 12, static_cast<uint32_t>(size >> 32));
  PutBe32(out + 16, static_cast<uint32_t>(size));
  const uint64_t piece = std::max<uint64_t>(p.block_len, kSigPiece / p.block_len * p.block_len);
  const uint64_t chunk = std::max<uint64_t>(p.block_len, kChunk / p.block_len * p.block_len);
  size_t pieces = static_cast<size_t>((size + piece - 1) / piece);
  auto sign_piece = [&](size_t i) -> Status {
    HASYNC_ASSIGN_OR_RETURN(auto file,
                            beneath ? env.OpenForReadAt(*beneath, path) : env.OpenForRead(path));
    std::vector<std::byte> buf(chunk);
    uint64_t begin = i * piece, end = std::min(size, begin + piece);
    for (uint64_t off = begin; off < end; off += chunk) {
      auto data = std::span<std::byte>(buf.data(), std::min<uint64_t>(chunk, end - off));
      HASYNC_RETURN_IF_ERROR(ReadFully(*file, off, data, path));
      for (size_t b = 0; b < data.size(); b += p.block_len) {
        size_t n = std::min<size_t>(p.block_len, data.size() - b);
        std::byte* e = out + kSigHeader + (off + b) / p.block_len * kSigEntry;
        PutBe32(e, WeakSum(data.data() + b, n));
        uint64_t strong = Hash64(data.subspan(b, n));
        std::memcpy(e + 4, &strong, 8);
      }
    }
    return Status::Ok();
  };
  HASYNC_RETURN_IF_ERROR(RunParallel(pieces, threads, sign_piece));
  return sig;
}

Result<std::shared_ptr<LoadedSignature>> LoadSignature(std::span<const std::byte> bytes) {
  if (bytes.size() < kSigHeader || bytes.size() > kMaxSignatureBytes) {
    return Status(Code::kProtocol,
                  "signature of " + std::to_string(bytes.size()) + " bytes is outside its limits");
  }
  uint32_t block_len = GetBe32(bytes.data() + 4);
  uint64_t size = uint64_t{GetBe32(bytes.data() + 12)} << 32 | GetBe32(bytes.data() + 16);
  if (GetBe32(bytes.data()) != kSigMagic || block_len < kMinBlockLen || block_len > kMaxBlockLen ||
      GetBe32(bytes.data() + 8) != kStrongLen || size > (uint64_t{1} << 56) ||
      (bytes.size() - kSigHeader) != BlockCountOf(size, block_len) * kSigEntry) {
    return Status(Code::kProtocol, "malformed signature header");
  }
  auto s = std::make_shared<LoadedSignature>();
  s->block_len = block_len;
  s->size = size;
  const size_t n = (bytes.size() - kSigHeader) / kSigEntry;
  s->weak.resize(n);
  s->strong.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::byte* e = bytes.data() + kSigHeader + i * kSigEntry;
    s->weak[i] = GetBe32(e);
    std::memcpy(&s->strong[i], e + 4, 8);
  }
  s->full_blocks = static_cast<uint32_t>(size / block_len);
  s->by_weak.reserve(s->full_blocks);
  for (uint32_t i = 0; i < s->full_blocks; ++i) s->by_weak.emplace_back(s->weak[i], i);
  std::sort(s->by_weak.begin(), s->by_weak.end());
  unsigned bits = 16;
  while (bits < 28 && (uint64_t{1} << bits) < uint64_t{s->full_blocks} * 8) ++bits;
  s->filter_shift = 32 - bits;
  s->filter.assign((size_t{1} << bits) / 64, 0);
  for (const auto& [w, i] : s->by_weak) {
    uint32_t bit = (w * 0x9E3779B1u) >> s->filter_shift;
    s->filter[bit >> 6] |= uint64_t{1} << (bit & 63);
  }
  return s;
}

namespace {

// The delta's output with the pending copy merged while blocks follow each other.
class DeltaWriter {
 public:
  explicit DeltaWriter(size_t cap) : cap_(cap) {}
  void Literal(const std::byte* p, size_t n) {
    if (n == 0) return;
    FlushCopy();
    e_.PutU8(kOpLiteral);
    e_.PutVarint(n);
    e_.PutRaw(p, n);
  }
  void Copy(uint64_t offset, uint64_t n) {
    if (copy_len_ > 0 && copy_off_ + copy_len_ == offset) {
      copy_len_ += n;
      return;
    }
    FlushCopy();
    copy_off_ = offset;
    copy_len_ = n;
  }
  bool Over() const { return e_.size() > cap_; }
  std::string Finish() {
    FlushCopy();
    e_.PutU8(kOpEnd);
    auto v = e_.view();
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  }

 private:
  void FlushCopy() {
    if (copy_len_ == 0) return;
    e_.PutU8(kOpCopy);
    e_.PutVarint(copy_off_);
    e_.PutVarint(copy_len_);
    copy_len_ = 0;
  }
  size_t cap_;
  Encoder e_;
  uint64_t copy_off_ = 0, copy_len_ = 0;
};

}  // namespace

Result<std::optional<std::string>> ComputeDelta(const std::shared_ptr<LoadedSignature>& sig,
                                                RandomAccessFile& file, uint64_t offset,
                                                uint64_t len, size_t cap, uint64_t* hashes) {
  const LoadedSignature& s = *sig;
  const size_t bl = s.block_len;
  const uint32_t out_mul = Power(kMul, bl);
  const uint32_t last = static_cast<uint32_t>(s.weak.size()) - 1;  // wraps when empty: unused
  const size_t last_len = s.weak.empty() ? 0 : static_cast<size_t>(s.size - uint64_t{last} * bl);
  // Strong sums computed on weak matches are bounded: a signature made of weak sums that match
  // everywhere (a hostile Secondary's) ends in the blocks fallback, not in hours of hashing.
  const uint64_t work_budget = 4 * len + (64 << 20);
  uint64_t work = 0;
  DeltaWriter w(cap);
  std::vector<std::byte> win(static_cast<size_t>(std::min<uint64_t>(4 * kChunk, len)) + bl);
  uint64_t base = 0, fill = 0, read_pos = 0;  // win[0] is the range's byte `base`
  uint64_t pos = 0, lit = 0;                  // the window's start; the pending literal's
  bool have_weak = false;
  uint32_t weak = 0;
  uint64_t predicted = UINT64_MAX;  // the block after the last match
  auto flush_literal = [&] {
    w.Literal(win.data() + (lit - base), pos - lit);
    lit = pos;
  };
  while (pos < len) {
    if (pos + bl > base + fill && read_pos < len) {
      flush_literal();
      std::memmove(win.data(), win.data() + (pos - base), fill - (pos - base));
      fill -= pos - base;
      base = pos;
      while (read_pos < len && fill + std::min<uint64_t>(kChunk, len - read_pos) <= win.size()) {
        auto data =
            std::span<std::byte>(win.data() + fill, std::min<uint64_t>(kChunk, len - read_pos));
        HASYNC_RETURN_IF_ERROR(ReadFully(file, offset + read_pos, data, "the file"));
        for (size_t b = 0; b < data.size(); b += kBlockSize) {
          hashes[(read_pos + b) / kBlockSize] =
              Hash64(data.subspan(b, std::min<size_t>(kBlockSize, data.size() - b)));
        }
        read_pos += data.size();
        fill += data.size();
      }
    }
    const std::byte* at = win.data() + (pos - base);
    const uint64_t left = len - pos;
    if (left < bl) {  // the range's tail: only the Secondary's short last block can match it
      if (last_len == left && last_len < bl && !s.weak.empty() &&
          Hash64(at, left) == s.strong[last]) {
        flush_literal();
        w.Copy(uint64_t{last} * bl, left);
        lit = pos = len;
      }
      break;
    }
    bool matched = false;
    uint64_t k = 0, strong = 0;
    bool have_strong = false;
    if (predicted < s.full_blocks) {
      strong = Hash64(at, bl);
      have_strong = true;
      work += bl;
      if (strong == s.strong[predicted]) matched = true, k = predicted;
    }
    if (!matched) {
      if (!have_weak) weak = WeakSum(at, bl), have_weak = true;
      if (s.MaybeHas(weak)) {
        auto it = std::lower_bound(s.by_weak.begin(), s.by_weak.end(),
                                   std::pair<uint32_t, uint32_t>(weak, 0));
        for (size_t tries = 0; it != s.by_weak.end() && it->first == weak && tries < kMaxCandidates;
             ++it, ++tries) {
          if (!have_strong) strong = Hash64(at, bl), have_strong = true, work += bl;
          if (s.strong[it->second] == strong) {
            matched = true, k = it->second;
            break;
          }
        }
      }
    }
    if (matched) {
      flush_literal();
      w.Copy(k * bl, bl);
      pos += bl;
      lit = pos;
      have_weak = false;
      predicted = k + 1;
    } else {
      if (pos + bl < base + fill) {
        weak = weak * kMul - static_cast<uint32_t>(at[0]) * out_mul + static_cast<uint32_t>(at[bl]);
      } else {
        have_weak = false;
      }
      ++pos;
      predicted = UINT64_MAX;
      if (pos - lit >= kLiteralFlush) flush_literal();
    }
    if (w.Over() || work > work_budget) return std::optional<std::string>();
  }
  pos = len;
  flush_literal();
  if (w.Over()) return std::optional<std::string>();
  return std::optional<std::string>(w.Finish());
}

Status ApplyDelta(RandomAccessFile& basis, uint64_t basis_size, std::span<const std::byte> delta,
                  uint64_t expect_len,
                  const std::function<Status(std::span<const std::byte>)>& out) {
  Decoder d(delta);
  uint64_t produced = 0;
  std::vector<std::byte> buf;
  for (;;) {
    auto op = d.GetU8();
    if (!op.ok()) return Status(Code::kProtocol, "the delta ended without its end");
    if (*op == kOpEnd) break;
    if (*op == kOpLiteral) {
      auto bytes = d.GetSpan(static_cast<size_t>(expect_len - produced));
      if (!bytes.ok()) {
        return Status(Code::kProtocol, "a delta literal past its range of " +
                                           std::to_string(expect_len) + " bytes or its end");
      }
      HASYNC_RETURN_IF_ERROR(out(*bytes));
      produced += bytes->size();
      continue;
    }
    if (*op != kOpCopy) {
      return Status(Code::kProtocol, "unknown delta operation " + std::to_string(*op));
    }
    auto from = d.GetVarint();
    if (!from.ok()) return Status(Code::kProtocol, "a truncated delta copy");
    auto n = d.GetVarint(expect_len - produced, "delta copy length");
    if (!n.ok())
      return Status(Code::kProtocol, "a delta copy past its range: " + n.status().message());
    if (*from > basis_size || *n > basis_size - *from) {
      return Status(Code::kProtocol, "delta copies from outside the Secondary's file");
    }
    buf.resize(static_cast<size_t>(std::min<uint64_t>(*n, kChunk)));
    for (uint64_t done = 0; done < *n;) {
      auto part = std::span<std::byte>(buf.data(), std::min<uint64_t>(kChunk, *n - done));
      HASYNC_ASSIGN_OR_RETURN(size_t got, basis.Read(*from + done, part));
      if (got != part.size()) {
        return Status(Code::kAborted, "the Secondary's file shrank during the sync");
      }
      HASYNC_RETURN_IF_ERROR(out(part));
      done += part.size();
    }
    produced += *n;
  }
  if (!d.empty()) return Status(Code::kProtocol, "bytes after the delta's end");
  if (produced != expect_len) {
    return Status(Code::kProtocol, "delta produces " + std::to_string(produced) +
                                       " bytes where its range has " + std::to_string(expect_len));
  }
  return Status::Ok();
}

}  // namespace hasync::engine
