// SendBlocks, SendDelta, FinishServedFile: the reading and hashing half of the Primary's
// transfer. Every block read is hashed here, so the Secondary can check each one (invariant 2)
// and the file's digest covers exactly what was sent. Each piece owns its hashes and hands them
// to the file's PieceDigest: what a request holds is bounded by its pieces in flight, not by
// the size it names (a Secondary asking for a 100 GiB sparse file cost 105 MB up front).
#include "engine/files/transfer.h"

#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "engine/files/delta.h"

namespace hasync::engine {

using snapshot::kBlockSize;

uint64_t BeginPieces(ServedFile& f) {
  uint64_t nb = snapshot::BlockCount(f.size);
  uint64_t n = (nb + kPieceBlocks - 1) / kPieceBlocks;
  f.pieces_left = n;
  f.digest = std::make_unique<PieceDigest>(
      PieceDigestOptions{.size = f.size, .pieces = n, .keep_hashes = f.learn && !f.cached});
  return n;
}

FilePiece PieceAt(ServedFile& f, uint64_t index) {
  uint64_t nb = snapshot::BlockCount(f.size);
  uint64_t first = index * kPieceBlocks;
  return FilePiece{&f, index, first, std::min(kPieceBlocks, nb - first)};
}

namespace {

// A local user racing a directory swap must not make serve read outside its roots: the file is
// opened beneath the root's handle, never by its whole path.
Result<std::unique_ptr<RandomAccessFile>> OpenServed(Env& env, const ServedFile& r) {
  KillPoint("serve.open");
  if (r.root) return env.OpenForReadAt(*r.root, r.req.path);
  return env.OpenForRead(r.path);
}

// A piece's hashes before it is read: the scan's where they are valid, else to be filled.
std::vector<uint64_t> StartHashes(const FilePiece& p) {
  const ServedFile& r = *p.file;
  if (!r.cached) return std::vector<uint64_t>(p.count, 0);
  auto begin = r.entry->blocks.begin() + static_cast<ptrdiff_t>(p.first);
  return std::vector<uint64_t>(begin, begin + static_cast<ptrdiff_t>(p.count));
}

// The runs of one read batch: each run of consecutive blocks the Secondary lacks, one message.
// `mine` are the piece's hashes: mine[i - first] for the file's block i.
Status SendRuns(ServedFile& r, std::span<ReadOp> ops, const uint64_t* idx, bool whole,
                std::vector<uint64_t>& mine, uint64_t first, const SendPieceMessage& send) {
  auto hash = [&](uint64_t i) -> uint64_t& { return mine[i - first]; };
  const auto& have = r.req.have_blocks;
  size_t nops = ops.size();
  size_t k = 0;
  while (k < nops) {
    if (ops[k].done != ops[k].buf.size()) {
      return Status(Code::kAborted, r.path + " shrank while it was being sent; sync again");
    }
    hash(idx[k]) = Hash64(ops[k].buf);
    bool needed = whole || idx[k] >= have.size() || hash(idx[k]) != have[idx[k]];
    if (!needed) {
      ++k;
      continue;
    }
    FileData d{.id = r.req.id, .first_block = idx[k], .hashes = {}, .data = {}};
    size_t start = k;
    while (k < nops && (k == start || idx[k] == idx[k - 1] + 1)) {
      if (k != start) {
        if (ops[k].done != ops[k].buf.size()) break;
        hash(idx[k]) = Hash64(ops[k].buf);
        if (!whole && idx[k] < have.size() && hash(idx[k]) == have[idx[k]]) break;
      }
      d.hashes.push_back(hash(idx[k]));
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

// The piece's blocks that lie wholly in a hole of the file (empty: none): they read as zeros,
// so they are neither read nor sent. A file's short last block counts when the hole ends it.
Result<std::vector<bool>> HoleBlocks(RandomAccessFile& file, const FilePiece& p) {
  const ServedFile& r = *p.file;
  uint64_t end_block = p.first + p.count;
  std::vector<bool> out;
  if (r.size <= kBlockSize) return out;  // one block: not worth the system calls
  HASYNC_ASSIGN_OR_RETURN(
      auto holes, file.Holes(p.first * kBlockSize, std::min(r.size, end_block * kBlockSize)));
  if (holes.empty()) return out;
  out.assign(p.count, false);
  for (const FileRange& h : holes) {
    for (uint64_t i = (h.begin + kBlockSize - 1) / kBlockSize; i < end_block; ++i) {
      uint64_t off = i * kBlockSize;
      if (off + std::min(kBlockSize, r.size - off) > h.end) break;
      out[i - p.first] = true;
    }
  }
  return out;
}

// Consecutive hole blocks the Secondary lacks, sent as one hole message.
class HoleRun {
 public:
  HoleRun(const ServedFile& r, const SendPieceMessage& send) : r_(r), send_(send) {}
  Status Add(uint64_t block, uint64_t len) {
    if (count_ > 0 && first_ + count_ != block) HASYNC_RETURN_IF_ERROR(Flush());
    if (count_ == 0) first_ = block;
    ++count_;
    bytes_ += len;
    return Status::Ok();
  }
  Status Flush() {
    if (count_ == 0) return Status::Ok();
    Encoder e;
    Encode(FileHole{.id = r_.req.id, .offset = first_ * kBlockSize, .length = bytes_}, e);
    count_ = 0;
    bytes_ = 0;
    return send_(MsgType::kFileHole, e);
  }

 private:
  const ServedFile& r_;
  const SendPieceMessage& send_;
  uint64_t first_ = 0, count_ = 0, bytes_ = 0;
};

// SendBlocks into the piece's own hashes.
Status ReadAndSendBlocks(Env& env, const FilePiece& p, bool whole, std::vector<uint64_t>& mine,
                         PieceBuffer& buf, const SendPieceMessage& send,
                         std::atomic<uint64_t>& bytes_read) {
  ServedFile& r = *p.file;
  const auto& have = r.req.have_blocks;
  HASYNC_ASSIGN_OR_RETURN(auto file, OpenServed(env, r));
  HASYNC_ASSIGN_OR_RETURN(std::vector<bool> holes, HoleBlocks(*file, p));
  HoleRun hole(r, send);
  for (uint64_t b = p.first; b < p.first + p.count; b += kRunBlocks) {
    uint64_t n = std::min(kRunBlocks, p.first + p.count - b);
    // With valid cached hashes only blocks that differ from the Secondary's are read at all.
    ReadOp ops[kRunBlocks];
    uint64_t idx[kRunBlocks];
    size_t nops = 0;
    for (uint64_t i = b; i < b + n; ++i) {
      bool need = whole || !r.cached || i >= have.size() || mine[i - p.first] != have[i];
      if (!need) {
        r.read_all = false;
        continue;
      }
      uint64_t off = i * kBlockSize;
      uint64_t len = std::min(kBlockSize, r.size - off);
      if (!holes.empty() && holes[i - p.first]) {
        // A hole: its hash is known without reading; sent (as a hole) only where it differs.
        mine[i - p.first] = ZeroBlockHash(len);
        if (whole || i >= have.size() || mine[i - p.first] != have[i]) {
          HASYNC_RETURN_IF_ERROR(hole.Add(i, len));
        }
        continue;
      }
      // Left uninitialised: a no-change sync never touches it.
      if (!buf) buf.reset(new std::byte[kRunBlocks * kBlockSize]);
      ops[nops] = ReadOp{off, std::span<std::byte>(buf.get() + (i - b) * kBlockSize, len), 0};
      idx[nops++] = i;
    }
    if (nops == 0) continue;
    HASYNC_RETURN_IF_ERROR(file->ReadMany(std::span<ReadOp>(ops, nops)));
    bytes_read += nops * kBlockSize;
    HASYNC_RETURN_IF_ERROR(
        SendRuns(r, std::span<ReadOp>(ops, nops), idx, whole, mine, p.first, send));
  }
  return hole.Flush();
}

}  // namespace

Status SendBlocks(Env& env, const FilePiece& p, bool whole, PieceBuffer& buf,
                  const SendPieceMessage& send, std::atomic<uint64_t>& bytes_read) {
  std::vector<uint64_t> mine = StartHashes(p);
  HASYNC_RETURN_IF_ERROR(ReadAndSendBlocks(env, p, whole, mine, buf, send, bytes_read));
  p.file->digest->Add(p.index, std::move(mine));
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
  std::vector<uint64_t> mine(p.count, 0);
  auto delta = ComputeDelta(sig, *file, offset, len, cap, mine.data());
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
  HASYNC_RETURN_IF_ERROR(send(MsgType::kFileDelta, e));
  r.digest->Add(p.index, std::move(mine));
  return Status::Ok();
}

FinishedFile FinishServedFile(ServedFile& r) {
  FinishedFile out;
  out.done = FileDone{.id = r.req.id,
                      .vanished = false,
                      .size = r.size,
                      .digest = r.digest->Finish(),
                      .mtime_ns = r.mtime_ns};
  if (r.learn && r.read_all && !r.cached && r.size == r.entry->size) {
    // Learnt while serving: keep for the next scan's quick check.
    r.entry->blocks = r.digest->TakeHashes();
    r.entry->digest = out.done.digest;
    r.entry->hashed = true;
    out.learnt = true;
  }
  return out;
}

}  // namespace hasync::engine
