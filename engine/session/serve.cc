// The serve session, as named steps (Server::Session): hello, then a connection test, a verify,
// or a sync: the database, the list (engine/files/listing.h), the requests, the transfer by a
// pool of workers that read, hash, compress and send (engine/files/transfer.h), so a slow
// channel and a slow disk overlap and every core works; then the Secondary's committed.
#include "engine/session/serve.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "common/hash.h"
#include "common/kill_point.h"
#include "common/log.h"
#include "common/path.h"
#include "engine/db/db_serve.h"
#include "engine/files/delta.h"
#include "engine/files/listing.h"
#include "engine/files/manifests.h"
#include "engine/files/owner_names.h"
#include "engine/files/tracked_scan.h"
#include "engine/files/transfer.h"
#include "engine/session/hello.h"
#include "engine/session/verify_session.h"
#include "engine/state/node_state.h"
#include "snapshot/scanner.h"

namespace hasync::engine {
namespace {

constexpr size_t kListBatch = 16384;  // list entries per frame
// What the Secondary's requests may make this side hold at once: the reader stops reading
// requests while those not yet finished hold more than this many bytes of their own (block
// hashes, signatures); one request alone always passes.
constexpr uint64_t kMaxHeldRequestBytes = 64 << 20;
// Hashes learnt while serving (kept for the manifest cache) per session: past it, an uncached
// file is still sent, its hashes folded piece by piece and forgotten.
constexpr uint64_t kMaxLearntHashBytes = 32 << 20;

struct Root {
  const FileRootSettings* cfg = nullptr;
  std::optional<RootDir> dir;  // the root's handle: every served file is opened beneath it
  snapshot::Manifest manifest;
  std::map<std::string, std::string, std::less<>> hardlink_to;
  bool dirty = false;  // hashes learnt while serving: save the manifest
};

// A file being sent (engine/files/transfer.h) and the root it belongs to.
struct Request {
  ServedFile file;
  Root* root = nullptr;
  uint64_t held = 0;  // bytes of its own counted in Server::held_bytes_
};

struct Piece {
  FilePiece piece;
  Request* r;
};

// A file whose pieces are being handed out: `next` is the first not yet taken.
struct Queued {
  Request* r;
  uint64_t next;
  uint64_t pieces;
};

class Server {
 public:
  Server(const Settings& s, transport::Channel& ch, Env& env, PeerBinding binding)
      : s_(s),
        ch_(ch),
        env_(env),
        binding_(std::move(binding)),
        link_(ch, "Secondary", s.compression),
        log_(Log("serve")) {}

  Status Run() {
    Status st = Session();
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(write_mu_);
      link_.SendError(st);
    }
    return st;
  }

 private:
  Status Session() {
    HASYNC_RETURN_IF_ERROR(Hello());
    HASYNC_ASSIGN_OR_RETURN(transport::Frame first, link_.Read());
    if (first.type == U8(MsgType::kBye)) {
      log_->info("connection test from {}: passed", peer_name_);
      return Status::Ok();
    }
    if (first.type == U8(MsgType::kVerifyRequest)) {
      HASYNC_ASSIGN_OR_RETURN(VerifyRequest req, DecodeVerifyRequest(first.payload));
      log_->info("verify from {}", peer_name_);
      return ServeVerify(s_, link_, req, peer_name_);
    }
    if (first.type == U8(MsgType::kDbRequest)) {
      if (!s_.database.enabled()) {
        return Status(Code::kConfig,
                      "the Secondary replicates a database, and [database] is not set on the "
                      "Primary");
      }
      HASYNC_ASSIGN_OR_RETURN(DbRequest req, DecodeDbRequest(first.payload));
      db_ = std::make_unique<DbSource>(s_, link_, peer_name_);
      HASYNC_RETURN_IF_ERROR(db_->Serve(req));
      HASYNC_ASSIGN_OR_RETURN(first, link_.Read());
    }
    HASYNC_RETURN_IF_ERROR(List(first));
    HASYNC_RETURN_IF_ERROR(ServeRequests());
    // The Secondary says when its commit is durable; only then is the sync complete here.
    auto f = transport::ReadFrame(ch_, link_.decoder());
    if (f.ok() && f->type == U8(MsgType::kCommitted)) {
      log_->info("the Secondary committed the sync");
      RecordServed();
      if (db_) {
        Status c = db_->Confirm();
        if (!c.ok()) log_->warn("{}", c.message());
      }
    } else if (f.ok() && f->type == U8(MsgType::kError)) {
      log_->warn("{}", PeerError(*f, "Secondary").message());
    }
    SaveManifests();
    return Status::Ok();
  }

  // The guide's HA Status: which system last synchronized from this node, and when. The
  // address is the ssh client's (sshd sets SSH_CLIENT), or "local" for other channels.
  void RecordServed() {
    const char* ssh = std::getenv("SSH_CLIENT");
    std::string address =
        ssh != nullptr ? std::string(ssh).substr(0, std::string(ssh).find(' ')) : "local";
    auto state = NodeState::Open(s_);
    Status st = state.ok() ? (*state)->RecordServed(peer_name_, address) : state.status();
    if (!st.ok()) log_->warn("recording the peer's sync: {}", st.message());
  }

  Status Hello() {
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link_.Expect(MsgType::kHello));
    HASYNC_ASSIGN_OR_RETURN(engine::Hello peer, DecodeHello(f.payload));
    HASYNC_ASSIGN_OR_RETURN(engine::Hello mine, MakeHello(s_, /*judge_health=*/true));
    Status gate = CheckPeerHello(mine, peer, s_.max_clock_skew_s);
    if (!gate.ok()) return gate;
    HASYNC_RETURN_IF_ERROR(CheckPeerBinding(binding_, peer.node_name));
    peer_name_ = peer.node_name;
    log_->info("{} connected (software {})", Printable(peer.node_name),
               Printable(peer.software_version));
    return link_.Send(MsgType::kHello, mine);
  }

  Status List(const transport::Frame& f) {
    if (f.type != U8(MsgType::kListRequest)) return Unexpected(f, "list request");
    HASYNC_ASSIGN_OR_RETURN(ListRequest req, DecodeListRequest(f.payload));
    owner_names_ = req.owner_names;
    roots_.resize(req.roots.size());
    for (size_t i = 0; i < req.roots.size(); ++i) {
      for (const auto& r : s_.roots) {
        if (r.name == req.roots[i]) roots_[i].cfg = &r;
      }
      if (roots_[i].cfg == nullptr) {
        std::string names;
        for (const auto& r : s_.roots) names += (names.empty() ? "" : ", ") + r.name;
        return Status(Code::kConfig, "file root '" + req.roots[i] +
                                         "' is not configured on the Primary (its roots: " +
                                         (names.empty() ? "none" : names) + ")");
      }
    }
    if (Status c = OpenServeCache(env_, s_); !c.ok()) {
      log_->warn("not using the serve cache (every file is hashed afresh): {}", c.message());
      cache_usable_ = false;
    }
    ListEnd end;
    for (size_t i = 0; i < roots_.size(); ++i) {
      Root& root = roots_[i];
      HASYNC_ASSIGN_OR_RETURN(RootDir dir, RootDir::Open(root.cfg->root));
      root.dir.emplace(std::move(dir));
      auto cache = cache_usable_
                       ? snapshot::Manifest::Load(env_, ServeManifestPath(s_, root.cfg->name))
                       : Result<snapshot::Manifest>(snapshot::Manifest());
      if (!cache.ok()) {
        log_->warn("ignoring damaged manifest cache: {}", cache.status().message());
        cache = snapshot::Manifest();
      }
      snapshot::ScanOptions o{.filter = snapshot::Filter(root.cfg->include, root.cfg->exclude),
                              .rehash_all = req.rehash_all,
                              .hash_uncached = false,
                              .threads = s_.threads};
      bool had_xattrs = cache->xattrs_known();
      size_t had_entries = cache->entries().size();
      // Only the folders changed since the cache's scan when the daemon's feed vouches for it
      // (engine/files/tracked_scan.h); the cache is this account's, the feed root's.
      HASYNC_ASSIGN_OR_RETURN(TrackedScan tracked,
                              ScanTracked(env_, s_, *root.cfg, o, std::move(*cache)));
      root.manifest = std::move(tracked.scan.manifest);
      // A cache from before attributes were kept (format 1) made this scan read every entry's
      // attributes: saved again, the next scan reuses them. So is a new mark, or what the walk
      // of changed folders found (the next one then starts from it).
      if (!had_xattrs || tracked.mark_moved || tracked.scan.stats.differing > 0 ||
          (!tracked.scan.stats.incremental && root.manifest.entries().size() != had_entries)) {
        root.dirty = true;
      }
      HASYNC_RETURN_IF_ERROR(SendList(static_cast<uint32_t>(i), root));
      // The root's own mode and mtime, after its scan (no entry of the list carries them).
      HASYNC_ASSIGN_OR_RETURN(FileInfo info, StatRoot(*root.dir));
      end.roots.push_back(
          RootMeta{.mode = info.mode, .uid = info.uid, .gid = info.gid, .mtime_ns = info.mtime_ns});
    }
    return link_.Send(MsgType::kListEnd, end);
  }

  // The root's list (engine/files/listing.h) in batches of kListBatch entries.
  Status SendList(uint32_t index, Root& root) {
    RootListing listing = ListRoot(root.manifest, owner_names_ ? &names_ : nullptr);
    root.hardlink_to = std::move(listing.hardlink_to);
    for (const WireEntry& w : listing.entries) {
      if (w.type == FileType::kRegular) ++listed_files_;
    }
    ListEntries batch{.root = index, .entries = {}};
    for (WireEntry& w : listing.entries) {
      batch.entries.push_back(std::move(w));
      if (batch.entries.size() == kListBatch) {
        HASYNC_RETURN_IF_ERROR(link_.Send(MsgType::kListEntries, batch));
        batch.entries.clear();
      }
    }
    if (!batch.entries.empty()) {
      HASYNC_RETURN_IF_ERROR(link_.Send(MsgType::kListEntries, batch));
    }
    return Status::Ok();
  }

  Status ServeRequests() {
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < s_.threads; ++t) workers.emplace_back([this] { Worker(); });
    Status st = ReadRequests();
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      closed_ = true;
      if (!st.ok()) queue_.clear();
    }
    queue_cv_.notify_all();
    for (auto& w : workers) w.join();
    if (!st.ok()) return st;
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (!worker_error_.ok()) return worker_error_;
    }
    Done d{.files_sent = files_sent_.load(), .bytes_read = bytes_read_.load()};
    std::lock_guard<std::mutex> lock(write_mu_);
    return link_.Send(MsgType::kDone, d);
  }

  Status ReadRequests() {
    for (;;) {
      HASYNC_ASSIGN_OR_RETURN(transport::Frame f, transport::ReadFrame(ch_, link_.decoder()));
      if (f.type == U8(MsgType::kRequestsEnd)) return Status::Ok();
      if (f.type == U8(MsgType::kError)) return PeerError(f, "Secondary");
      if (f.type != U8(MsgType::kFileRequests)) {
        return Status(Code::kProtocol,
                      std::string("expected file requests, got ") + MsgName(f.type));
      }
      HASYNC_ASSIGN_OR_RETURN(auto reqs, DecodeFileRequests(f.payload));
      for (FileRequest& fr : reqs) HASYNC_RETURN_IF_ERROR(Enqueue(std::move(fr)));
      if (failed_.load()) return Status::Ok();
    }
  }

  // Checks a request against this side's own scan: only listed regular files are ever read,
  // each at most once, so the requests never outnumber the listed files.
  Status Enqueue(FileRequest fr) {
    if (fr.root >= roots_.size()) return Status(Code::kProtocol, "request for an unknown root");
    Root& root = roots_[fr.root];
    HASYNC_RETURN_IF_ERROR(ValidateRelativePath(fr.path));
    const snapshot::Entry* e = root.manifest.Find(fr.path);
    // A listed hard link may be asked for as a file: the Secondary excludes its first path.
    if (e == nullptr || e->type != FileType::kRegular) {
      return Status(Code::kProtocol, "request for '" + fr.path + "', which this side did not list");
    }
    if (!ids_.insert(fr.id).second) return Status(Code::kProtocol, "request id used twice");
    if (!requested_.emplace(fr.root, fr.path).second) {
      return Status(Code::kProtocol, "'" + fr.path + "' requested twice");
    }
    if (requests_.size() >= listed_files_) {
      return Status(Code::kProtocol, "more file requests than listed files");
    }
    auto r = std::make_unique<Request>();
    r->root = &root;
    ServedFile& f = r->file;
    f.entry = const_cast<snapshot::Entry*>(e);
    f.path = JoinPath(root.cfg->root, fr.path);
    f.root = &*root.dir;
    f.req = std::move(fr);
    auto info = StatBeneath(*f.root, f.req.path);
    if (!info.ok() || info->type != FileType::kRegular) {
      FileDone done{.id = f.req.id, .vanished = true};
      std::lock_guard<std::mutex> lock(write_mu_);
      return link_.Send(MsgType::kFileDone, done);
    }
    f.size = info->size;
    f.mtime_ns = info->mtime_ns;
    f.cached = e->hashed && e->size == info->size && e->mtime_ns == info->mtime_ns &&
               e->ctime_ns == info->ctime_ns && e->blocks.size() == snapshot::BlockCount(f.size);
    uint64_t learnt = snapshot::BlockCount(f.size) * sizeof(uint64_t);
    f.learn = !f.cached && learnt <= learn_budget_;
    if (f.learn) learn_budget_ -= learnt;
    uint64_t pieces = BeginPieces(f);
    Request* raw = r.get();
    requests_.push_back(std::move(r));
    if (pieces == 0) return FinishRequest(*raw);
    raw->held =
        raw->file.req.have_blocks.size() * sizeof(uint64_t) + raw->file.req.signature.size();
    return QueuePieces(*raw, pieces);
  }

  // Hands r's pieces to the workers (they take them in order, one at a time: the queue holds
  // files, not pieces), waiting while the requests in flight hold more than
  // kMaxHeldRequestBytes of their own.
  Status QueuePieces(Request& r, uint64_t pieces) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      space_cv_.wait(lock, [&] {
        return failed_.load() || held_bytes_ == 0 || held_bytes_ + r.held <= kMaxHeldRequestBytes;
      });
      if (failed_.load()) return Status::Ok();  // the worker's error is the session's
      held_bytes_ += r.held;
      queue_.push_back(Queued{&r, 0, pieces});
    }
    queue_cv_.notify_all();
    return Status::Ok();
  }

  void Worker() {
    transport::FrameEncoder enc(s_.compression);
    enc.SetPace(&ch_.pace());
    PieceBuffer buf;
    // Encodes a data message with this worker's encoder, then writes it under the lock.
    SendPieceMessage send = [&](MsgType type, const Encoder& e) -> Status {
      std::vector<std::byte> frame;
      enc.Encode(U8(type), e.view(), frame);
      std::lock_guard<std::mutex> lock(write_mu_);
      HASYNC_RETURN_IF_ERROR(ch_.WriteAll(frame));
      KillPoint("serve.data");
      return Status::Ok();
    };
    for (;;) {
      std::optional<Piece> p;
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;
        Queued& q = queue_.front();
        p = Piece{PieceAt(q.r->file, q.next), q.r};
        if (++q.next == q.pieces) queue_.pop_front();
      }
      if (failed_.load()) continue;
      RequestKind kind = p->r->file.req.kind;
      Status st =
          kind == RequestKind::kDelta
              ? SendDelta(env_, p->piece, buf, send, bytes_read_)
              : SendBlocks(env_, p->piece, kind == RequestKind::kWhole, buf, send, bytes_read_);
      if (st.ok() && p->r->file.pieces_left.fetch_sub(1) == 1) st = FinishRequest(*p->r);
      if (!st.ok()) {
        {
          std::lock_guard<std::mutex> lock(error_mu_);
          if (worker_error_.ok()) worker_error_ = st;
          failed_ = true;
        }
        std::lock_guard<std::mutex> lock(queue_mu_);  // so a waiting reader cannot miss it
        space_cv_.notify_all();
      }
    }
  }

  Status FinishRequest(Request& r) {
    FinishedFile f = FinishServedFile(r.file);
    // What the request held is no longer needed: let the reader queue more.
    std::vector<uint64_t>().swap(r.file.req.have_blocks);
    std::string().swap(r.file.req.signature);
    r.file.digest.reset();
    if (r.held != 0) {
      std::lock_guard<std::mutex> lock(queue_mu_);
      held_bytes_ -= r.held;
      r.held = 0;
      space_cv_.notify_all();
    }
    if (f.learnt) {
      std::lock_guard<std::mutex> lock(error_mu_);
      r.root->dirty = true;
    }
    ++files_sent_;
    std::lock_guard<std::mutex> lock(write_mu_);
    return link_.Send(MsgType::kFileDone, f.done);
  }

  void SaveManifests() {
    if (!cache_usable_) return;
    Status st;
    for (Root& root : roots_) {
      if (!st.ok() || !root.dirty) continue;
      st = root.manifest.Save(env_, ServeManifestPath(s_, root.cfg->name));
    }
    if (!st.ok()) log_->warn("could not save the manifest cache: {}", st.ToString());
  }

  const Settings& s_;
  transport::Channel& ch_;
  Env& env_;
  const PeerBinding binding_;
  bool owner_names_ = false;  // the Secondary asked for names ([sync] owner = "name")
  SystemNames names_;         // their lookups, cached for this session
  bool cache_usable_ = true;  // OpenServeCache passed: <state_dir>/serve is this account's
  // This thread's messages (its sends under write_mu_: the workers write frames too).
  PeerLink link_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<Root> roots_;
  std::string peer_name_;
  std::set<uint32_t> ids_;
  std::set<std::pair<uint32_t, std::string>> requested_;  // (root, path): each at most once
  uint64_t listed_files_ = 0;  // regular files in the lists (hard links too)
  uint64_t learn_budget_ = kMaxLearntHashBytes;
  std::vector<std::unique_ptr<Request>> requests_;

  std::mutex write_mu_;
  std::unique_ptr<DbSource> db_;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Queued> queue_;
  std::condition_variable space_cv_;  // the reader waits here for room (QueuePieces)
  uint64_t held_bytes_ = 0;           // under queue_mu_
  bool closed_ = false;
  std::atomic<bool> failed_{false};
  std::mutex error_mu_;
  Status worker_error_;
  std::atomic<uint64_t> files_sent_{0};
  std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace

Status RunServe(const Settings& settings, transport::Channel& channel, const ServeOptions& o) {
  Env* env = o.env;
  if (env == nullptr) {
    HASYNC_ASSIGN_OR_RETURN(env, Env::Default());
  }
  Server server(settings, channel, *env, o.binding);
  return server.Run();
}

}  // namespace hasync::engine
