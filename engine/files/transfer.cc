// SendBlocks, SendDelta, FinishServedFile: the reading and hashing half of the Primary's
// transfer. Every block read is hashed here, so the Secondary can check each one (invariant 2)
// and the file's digest covers exactly what was sent.
#include "engine/files/transfer.h"

#include "common/hash.h"
#include "common/log.h"
#include "engine/files/delta.h"

namespace hasync::engine {

using snapshot::kBlockSize;

std::vector<FilePiece> SplitIntoPieces(ServedFile& f) {
  uint64_t nb = snapshot::BlockCount(f.size);
  std::vector<FilePiece> pieces;
  for (uint64_t first = 0; first < nb; first += kPieceBlocks) {
    pieces.push_back(FilePiece{&f, first, std::min(kPieceBlocks, nb - first)});
  }
  f.pieces_left = pieces.size();
  return pieces;
}

namespace {

// A local user racing a directory swap must not make serve read outside its roots: the file is
// opened beneath the root's handle, never by its whole path.
Result<std::unique_ptr<RandomAccessFile>> OpenServed(Env& env, const ServedFile& r) {
  if (r.root) return env.OpenForReadAt(*r.root, r.req.path);
  return env.OpenForRead(r.path);
}

// The runs of one read batch: each run of consecutive blocks the Secondary lacks, one message.
Status SendRuns(ServedFile& r, std::span<ReadOp> ops, const uint64_t* idx, bool whole,
                const SendPieceMessage& send) {
  const auto& have = r.req.have_blocks;
  size_t nops = ops.size();
  size_t k = 0;
  while (k < nops) {
    if (ops[k].done != ops[k].buf.size()) {
      return Status(Code::kAborted, r.path + " shrank while it was being sent; sync again");
    }
    r.hashes[idx[k]] = Hash64(ops[k].buf);
    bool needed = whole || idx[k] >= have.size() || r.hashes[idx[k]] != have[idx[k]];
    if (!needed) {
      ++k;
      continue;
    }
    FileData d{.id = r.req.id, .first_block = idx[k], .hashes = {}, .data = {}};
    size_t start = k;
    while (k < nops && (k == start || idx[k] == idx[k - 1] + 1)) {
      if (k != start) {
        if (ops[k].done != ops[k].buf.size()) break;
        r.hashes[idx[k]] = Hash64(ops[k].buf);
        if (!whole && idx[k] < have.size() && r.hashes[idx[k]] == have[idx[k]]) break;
      }
      d.hashes.push_back(r.hashes[idx[k]]);
      ++k;
    }
    const std::byte* begin = ops[start].buf.data();
    const std::byte* end = ops[k - 1].buf.data() + ops[k - 1].buf.size();
    d.data = std::span<const std::byte>(begin, end);
    Encoder e;
    Encode(d, e);
    HASYNC_RETURN_IF_ERROR(send(MsgType::kFileData, e));
  }
  return Status::Ok();
}

}  // namespace

Status SendBlocks(Env& env, const FilePiece& p, bool whole, PieceBuffer& buf,
                  const SendPieceMessage& send, std::atomic<uint64_t>& bytes_read) {
  ServedFile& r = *p.file;
  const auto& have = r.req.have_blocks;
  HASYNC_ASSIGN_OR_RETURN(auto file, OpenServed(env, r));
  for (uint64_t b = p.first; b < p.first + p.count; b += kRunBlocks) {
    uint64_t n = std::min(kRunBlocks, p.first + p.count - b);
    // With valid cached hashes only blocks that differ from the Secondary's are read at all.
    ReadOp ops[kRunBlocks];
    uint64_t idx[kRunBlocks];
    size_t nops = 0;
    for (uint64_t i = b; i < b + n; ++i) {
      bool need = whole || !r.cached || i >= have.size() || r.hashes[i] != have[i];
      if (!need) continue;
      uint64_t off = i * kBlockSize;
      uint64_t len = std::min(kBlockSize, r.size - off);
      // Left uninitialised: a no-change sync never touches it.
      if (!buf) buf.reset(new std::byte[kRunBlocks * kBlockSize]);
      ops[nops] = ReadOp{off, std::span<std::byte>(buf.get() + (i - b) * kBlockSize, len), 0};
      idx[nops++] = i;
    }
    if (nops == 0) continue;
    if (nops < n) r.read_all = false;
    HASYNC_RETURN_IF_ERROR(file->ReadMany(std::span<ReadOp>(ops, nops)));
    bytes_read += nops * kBlockSize;
    HASYNC_RETURN_IF_ERROR(SendRuns(r, std::span<ReadOp>(ops, nops), idx, whole, send));
  }
  return Status::Ok();
}

Status SendDelta(Env& env, const FilePiece& p, PieceBuffer& buf, const SendPieceMessage& send,
                 std::atomic<uint64_t>& bytes_read) {
  ServedFile& r = *p.file;
  uint64_t offset = p.first * kBlockSize;
  uint64_t len = std::min(r.size, (p.first + p.count) * kBlockSize) - offset;
  const auto& s = r.req.signature;
  HASYNC_ASSIGN_OR_RETURN(auto sig, LoadSignature(std::span<const std::byte>(
                                        reinterpret_cast<const std::byte*>(s.data()), s.size())));
  HASYNC_ASSIGN_OR_RETURN(auto file, OpenServed(env, r));
  size_t cap = static_cast<size_t>(std::min<uint64_t>(kMaxDelta, len / 4));
  auto delta = ComputeDelta(sig, *file, offset, len, cap, r.hashes.data() + p.first);
  if (!delta.ok()) return delta.status().Context(r.path);
  bytes_read += len;
  if (!delta->has_value()) {
    Log("serve")->debug("{}: delta of [{}, +{}) passed the cap; sending its blocks", r.path, offset,
                        len);
    return SendBlocks(env, p, true, buf, send, bytes_read);
  }
  const std::string& d = **delta;
  FileDelta m{
      .id = r.req.id,
      .offset = offset,
      .length = len,
      .delta = std::span<const std::byte>(reinterpret_cast<const std::byte*>(d.data()), d.size())};
  Encoder e;
  Encode(m, e);
  return send(MsgType::kFileDelta, e);
}

FinishedFile FinishServedFile(ServedFile& r) {
  FinishedFile out;
  out.done = FileDone{.id = r.req.id,
                      .vanished = false,
                      .size = r.size,
                      .digest = FileDigest(r.hashes, r.size),
                      .mtime_ns = r.mtime_ns};
  if (r.read_all && !r.cached && r.size == r.entry->size) {
    // Learnt while serving: keep for the next scan's quick check.
    r.entry->blocks = r.hashes;
    r.entry->digest = out.done.digest;
    r.entry->hashed = true;
    out.learnt = true;
  }
  return out;
}

}  // namespace hasync::engine
