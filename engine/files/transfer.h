// The Primary's transfer of one requested file: the file is split into pieces (a worker's share
// of a large file), and each piece is read and sent as runs of the blocks the Secondary lacks,
// or as a rolling delta of its range. With valid cached hashes only the blocks that differ
// from the Secondary's are read at all. The serve session's workers call these; the sending
// itself (encoding with the worker's encoder, writing under the session's lock) is theirs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/beneath.h"
#include "common/binary.h"
#include "common/env.h"
#include "common/status.h"
#include "engine/files/piece_digest.h"
#include "engine/wire/protocol.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

constexpr uint64_t kRunBlocks = (1 << 20) / snapshot::kBlockSize;     // per data message: 1 MiB
constexpr uint64_t kPieceBlocks = (64 << 20) / snapshot::kBlockSize;  // a worker's share

// One file being sent. Fields are set before its pieces are queued (BeginPieces); afterwards
// each piece's worker reads and hashes only its own blocks into its own hashes, handed to
// `digest`, and the counters are atomic. Nothing here is sized from the whole file: a piece
// holds at most kPieceBlocks hashes (64 KiB), and only a file to learn keeps them all.
struct ServedFile {
  FileRequest req;
  snapshot::Entry* entry = nullptr;  // the Primary's scan of it
  std::string path;                  // absolute, for messages
  const RootDir* root = nullptr;     // req.path is opened beneath it (null: path, in tests)
  uint64_t size = 0;                 // as stat'ed when the request came
  int64_t mtime_ns = 0;
  bool cached = false;                  // entry's hashes describe the file as it is now
  bool learn = false;                   // uncached: keep the hashes read, to learn them into entry
  std::unique_ptr<PieceDigest> digest;  // set by BeginPieces
  std::atomic<uint64_t> pieces_left{0};
  std::atomic<bool> read_all{true};  // every block was read (so the hashes may be cached)
};

struct FilePiece {
  ServedFile* file;
  uint64_t index;  // 0.. in file order
  uint64_t first;  // block
  uint64_t count;
};

// How many pieces f has (none for an empty file); sets f.pieces_left and f.digest. The
// pieces are then PieceAt(f, 0), PieceAt(f, 1), ..., handed out in that order.
uint64_t BeginPieces(ServedFile& f);
FilePiece PieceAt(ServedFile& f, uint64_t index);

// Sends one message of a piece: a data run or a delta (already a FileData or FileDelta).
using SendPieceMessage = std::function<Status(MsgType type, const Encoder& payload)>;

// A worker's reusable read buffer (kRunBlocks blocks), allocated on first use.
using PieceBuffer = std::unique_ptr<std::byte[]>;

// Reads the piece's blocks the Secondary lacks (all of them when `whole`), hashes them into the
// piece's hashes (handed to f.digest) and sends each run of consecutive blocks to send. bytes_read
// counts what was read.
Status SendBlocks(Env& env, const FilePiece& p, bool whole, PieceBuffer& buf,
                  const SendPieceMessage& send, std::atomic<uint64_t>& bytes_read);

// A piece of a kDelta request: its rolling delta against the Secondary's signature, or its
// blocks when the delta would pass the work cap (a quarter of the range, at most kMaxDelta).
Status SendDelta(Env& env, const FilePiece& p, PieceBuffer& buf, const SendPieceMessage& send,
                 std::atomic<uint64_t>& bytes_read);

// After the last piece: the file's done message. When every block was read and the scan had
// no hashes, they are learnt into f.entry (returns true: the manifest should be saved).
struct FinishedFile {
  FileDone done;
  bool learnt = false;
};
FinishedFile FinishServedFile(ServedFile& f);

}  // namespace hasync::engine
