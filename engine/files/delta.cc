// librsync behind hasync's types: every job is pumped through Pump, the one place that reads
// librsync's result codes.
#include "engine/files/delta.h"

#include <librsync.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/hash.h"
#include "common/log.h"
#include "common/parallel.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

using snapshot::kBlockSize;

namespace {

constexpr size_t kSigHeader = 12;  // magic, block length, strong sum length; big-endian
constexpr size_t kChunk = 1 << 20;
constexpr uint64_t kSigPiece = 32 << 20;  // the Secondary signs its file in pieces this large

// librsync reports through a global trace hook: its messages go to the "delta" log at debug
// level (the error hasync returns says what failed), never straight to stderr.
void TraceToLog(rs_loglevel, char const* msg) { Log("delta")->debug("librsync: {}", msg); }

struct JobHolder {
  explicit JobHolder(rs_job_t* j) : job(j) {
    static std::once_flag once;
    std::call_once(once, [] { rs_trace_to(&TraceToLog); });
  }
  JobHolder(const JobHolder&) = delete;
  JobHolder& operator=(const JobHolder&) = delete;
  rs_job_t* job;
  ~JobHolder() {
    if (job != nullptr) rs_job_free(job);
  }
};

uint32_t GetBe32(const std::byte* p) {
  return uint32_t{static_cast<uint8_t>(p[0])} << 24 | uint32_t{static_cast<uint8_t>(p[1])} << 16 |
         uint32_t{static_cast<uint8_t>(p[2])} << 8 | uint32_t{static_cast<uint8_t>(p[3])};
}

Status RsError(const char* what, rs_result r) {
  return Status(Code::kProtocol, std::string(what) + ": " + rs_strerror(r));
}

// Feeds `in` to the job and hands all output to sink. Returns true when the job finished, false
// when it consumed everything and waits for more input.
Result<bool> Pump(rs_job_t* job, std::span<const std::byte> in, bool eof, const char* what,
                  const std::function<Status(std::span<const std::byte>)>& sink) {
  rs_buffers_t b{};
  b.next_in = const_cast<char*>(reinterpret_cast<const char*>(in.data()));
  b.avail_in = in.size();
  b.eof_in = eof ? 1 : 0;
  std::vector<std::byte> out(256 << 10);
  for (;;) {
    b.next_out = reinterpret_cast<char*>(out.data());
    b.avail_out = out.size();
    size_t before_in = b.avail_in;
    rs_result r = rs_job_iter(job, &b);
    size_t produced = out.size() - b.avail_out;
    if (produced > 0)
      HASYNC_RETURN_IF_ERROR(sink(std::span<const std::byte>(out.data(), produced)));
    if (r == RS_DONE) return true;
    if (r != RS_BLOCKED) return RsError(what, r);
    if (produced == 0 && b.avail_in == before_in) {
      if (eof) return Status(Code::kProtocol, std::string(what) + ": input ended too early");
      return false;
    }
  }
}

Status ReadFully(RandomAccessFile& f, uint64_t offset, std::span<std::byte> buf,
                 const std::string& what) {
  HASYNC_ASSIGN_OR_RETURN(size_t n, f.Read(offset, buf));
  if (n != buf.size()) return Status(Code::kAborted, what + " shrank while it was being read");
  return Status::Ok();
}

}  // namespace

class LoadedSignature {
 public:
  ~LoadedSignature() {
    if (sig != nullptr) rs_free_sumset(sig);
  }
  rs_signature_t* sig = nullptr;
};

SignatureParams SignatureParamsFor(uint64_t size) {
  rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;
  size_t block_len = 0, strong_len = 8;
  rs_sig_args(static_cast<rs_long_t>(size), &magic, &block_len, &strong_len);
  return SignatureParams{static_cast<uint32_t>(block_len), 8};
}

uint64_t SignatureBytes(uint64_t size) {
  SignatureParams p = SignatureParamsFor(size);
  return kSigHeader + (size + p.block_len - 1) / p.block_len * (4 + p.strong_len);
}

Result<std::string> ComputeSignature(Env& env, const std::string& path, uint64_t size,
                                     unsigned threads, const RootDir* beneath) {
  SignatureParams p = SignatureParamsFor(size);
  uint64_t piece = std::max<uint64_t>(p.block_len, kSigPiece / p.block_len * p.block_len);
  size_t pieces = static_cast<size_t>((size + piece - 1) / piece);
  std::vector<std::string> parts(std::max<size_t>(pieces, 1));
  auto sign_piece = [&](size_t i) -> Status {
    HASYNC_ASSIGN_OR_RETURN(auto file,
                            beneath ? env.OpenForReadAt(*beneath, path) : env.OpenForRead(path));
    JobHolder h{rs_sig_begin(p.block_len, p.strong_len, RS_RK_BLAKE2_SIG_MAGIC)};
    std::string& out = parts[i];
    auto sink = [&](std::span<const std::byte> b) {
      out.append(reinterpret_cast<const char*>(b.data()), b.size());
      return Status::Ok();
    };
    std::vector<std::byte> buf(kChunk);
    uint64_t begin = i * piece, end = std::min(size, begin + piece);
    for (uint64_t off = begin; off < end; off += kChunk) {
      auto chunk = std::span<std::byte>(buf.data(), std::min<uint64_t>(kChunk, end - off));
      HASYNC_RETURN_IF_ERROR(ReadFully(*file, off, chunk, path));
      HASYNC_ASSIGN_OR_RETURN(bool done, Pump(h.job, chunk, false, "signing", sink));
      (void)done;
    }
    HASYNC_ASSIGN_OR_RETURN(bool done, Pump(h.job, {}, true, "signing", sink));
    if (!done) return Status(Code::kInternal, "librsync did not finish a signature");
    // Every piece but the first drops its header: the bodies concatenate into one signature.
    if (i > 0) out.erase(0, kSigHeader);
    return Status::Ok();
  };
  HASYNC_RETURN_IF_ERROR(RunParallel(pieces, threads, sign_piece));
  if (pieces == 0) {  // an empty file still has a header
    JobHolder h{rs_sig_begin(p.block_len, p.strong_len, RS_RK_BLAKE2_SIG_MAGIC)};
    auto sink = [&](std::span<const std::byte> b) {
      parts[0].append(reinterpret_cast<const char*>(b.data()), b.size());
      return Status::Ok();
    };
    HASYNC_RETURN_IF_ERROR(Pump(h.job, {}, true, "signing", sink).status());
  }
  std::string sig;
  for (const auto& part : parts) sig += part;
  return sig;
}

Result<std::shared_ptr<LoadedSignature>> LoadSignature(std::span<const std::byte> bytes) {
  if (bytes.size() < kSigHeader || bytes.size() > kMaxSignatureBytes) {
    return Status(Code::kProtocol,
                  "signature of " + std::to_string(bytes.size()) + " bytes is outside its limits");
  }
  uint32_t magic = GetBe32(bytes.data());
  uint32_t block_len = GetBe32(bytes.data() + 4);
  uint32_t strong_len = GetBe32(bytes.data() + 8);
  if (magic != RS_RK_BLAKE2_SIG_MAGIC || block_len < 256 || block_len > (16u << 20) ||
      strong_len < 8 || strong_len > RS_MAX_STRONG_SUM_LENGTH ||
      (bytes.size() - kSigHeader) % (4 + strong_len) != 0) {
    return Status(Code::kProtocol, "malformed signature header");
  }
  auto loaded = std::make_shared<LoadedSignature>();
  {
    JobHolder h{rs_loadsig_begin(&loaded->sig)};
    auto sink = [](std::span<const std::byte>) { return Status::Ok(); };
    HASYNC_ASSIGN_OR_RETURN(bool done, Pump(h.job, bytes, true, "loading a signature", sink));
    if (!done) return Status(Code::kProtocol, "signature ended early");
  }
  rs_result r = rs_build_hash_table(loaded->sig);
  if (r != RS_DONE) return RsError("indexing a signature", r);
  return loaded;
}

Result<std::optional<std::string>> ComputeDelta(const std::shared_ptr<LoadedSignature>& sig,
                                                RandomAccessFile& file, uint64_t offset,
                                                uint64_t len, size_t cap, uint64_t* hashes) {
  JobHolder h{rs_delta_begin(sig->sig)};
  std::string out;
  bool over = false;
  auto sink = [&](std::span<const std::byte> b) {
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
    if (out.size() > cap) over = true;
    return Status::Ok();
  };
  std::vector<std::byte> buf(kChunk);
  for (uint64_t pos = 0; pos < len; pos += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, len - pos));
    auto chunk = std::span<std::byte>(buf.data(), n);
    HASYNC_RETURN_IF_ERROR(ReadFully(file, offset + pos, chunk, "the file"));
    for (size_t b = 0; b < n; b += kBlockSize) {
      hashes[(pos + b) / kBlockSize] =
          Hash64(chunk.subspan(b, std::min<size_t>(kBlockSize, n - b)));
    }
    HASYNC_RETURN_IF_ERROR(Pump(h.job, chunk, false, "computing a delta", sink).status());
    if (over) return std::optional<std::string>();
  }
  HASYNC_ASSIGN_OR_RETURN(bool done, Pump(h.job, {}, true, "computing a delta", sink));
  if (!done) return Status(Code::kInternal, "librsync did not finish a delta");
  if (over) return std::optional<std::string>();
  return std::optional<std::string>(std::move(out));
}

namespace {

struct CopyContext {
  RandomAccessFile* basis;
  uint64_t basis_size;
  Status error;
};

rs_result CopyFromBasis(void* opaque, rs_long_t pos, size_t* len, void** buf) {
  auto* c = static_cast<CopyContext*>(opaque);
  if (pos < 0 || static_cast<uint64_t>(pos) > c->basis_size ||
      *len > c->basis_size - static_cast<uint64_t>(pos)) {
    c->error = Status(Code::kProtocol, "delta copies from outside the Secondary's file");
    return RS_CORRUPT;
  }
  auto r = c->basis->Read(static_cast<uint64_t>(pos),
                          std::span<std::byte>(static_cast<std::byte*>(*buf), *len));
  if (!r.ok()) {
    c->error = r.status();
    return RS_IO_ERROR;
  }
  if (*r != *len) {
    c->error = Status(Code::kAborted, "the Secondary's file shrank during the sync");
    return RS_INPUT_ENDED;
  }
  return RS_DONE;
}

}  // namespace

Status ApplyDelta(RandomAccessFile& basis, uint64_t basis_size, std::span<const std::byte> delta,
                  uint64_t expect_len,
                  const std::function<Status(std::span<const std::byte>)>& out) {
  CopyContext ctx{&basis, basis_size, Status::Ok()};
  JobHolder h{rs_patch_begin(&CopyFromBasis, &ctx)};
  uint64_t produced = 0;
  auto sink = [&](std::span<const std::byte> b) -> Status {
    produced += b.size();
    if (produced > expect_len) {
      return Status(Code::kProtocol, "delta produces more than its range of " +
                                         std::to_string(expect_len) + " bytes");
    }
    return out(b);
  };
  auto done = Pump(h.job, delta, true, "applying a delta", sink);
  if (!ctx.error.ok()) return ctx.error;
  HASYNC_RETURN_IF_ERROR(done.status());
  if (!*done || produced != expect_len) {
    return Status(Code::kProtocol, "delta produces " + std::to_string(produced) +
                                       " bytes where its range has " + std::to_string(expect_len));
  }
  return Status::Ok();
}

}  // namespace hasync::engine
