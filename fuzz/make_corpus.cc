// make_corpus: writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) with the project's
// own encoders, so every seed is a valid message, journal, manifest, settings file or request
// the fuzzer mutates from. Run from the repository root: build/fuzz/fuzz/make_corpus fuzz/corpus
// (ci/fuzz.sh does not: the seeds are committed, and regenerated only when a format changes).
// pgoutput has no encoder here (PostgreSQL writes it), so its seeds follow PostgreSQL's layout.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/files/delta.h"
#include "engine/files/journal.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/protocol.h"
#include "engine/wire/verify_protocol.h"
#include "fuzz/delta_basis.h"
#include "snapshot/manifest.h"
#include "transport/frame.h"

namespace hasync::fuzz {
namespace {

using namespace hasync::engine;
using Bytes = std::vector<std::byte>;

class Corpus {
 public:
  explicit Corpus(std::string dir) : dir_(std::move(dir)) {}
  void Write(const std::string& target, const std::string& name, std::span<const std::byte> b) {
    std::filesystem::create_directories(dir_ + "/" + target);
    std::ofstream(dir_ + "/" + target + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  void Write(const std::string& target, const std::string& name, std::string_view s) {
    Write(target, name, std::as_bytes(std::span(s.data(), s.size())));
  }
  // A checksummed file (journal, manifest) twice: as it is (selector 0), and its body without
  // the 8-byte checksum trailer (selector 1: the target seals it again).
  void Sealed(const std::string& target, const std::string& name, Bytes file) {
    Bytes whole{std::byte{0}};
    whole.insert(whole.end(), file.begin(), file.end());
    Write(target, name, whole);
    whole[0] = std::byte{1};
    whole.resize(whole.size() - 8);
    Write(target, name + "_body", whole);
  }
  // A dispatching target's seed: the selector byte, then the message.
  template <typename M>
  void Message(const std::string& target, const std::string& name, uint8_t selector, const M& m) {
    Encoder e;
    e.PutU8(selector);
    Encode(m, e);
    Write(target, name, e.view());
  }

 private:
  std::string dir_;
};

void Frames(Corpus& c) {
  std::string text(3000, 'a');
  auto payload = std::as_bytes(std::span(text.data(), text.size()));
  for (auto mode :
       {transport::CompressionOptions::Mode::kOff, transport::CompressionOptions::Mode::kLevel}) {
    transport::FrameEncoder enc({.mode = mode, .level = 1});
    Bytes out;
    enc.Encode(U8(MsgType::kListEntries), payload, out);
    c.Write("frame", mode == transport::CompressionOptions::Mode::kOff ? "raw" : "zstd", out);
  }
  transport::FrameEncoder enc({.mode = transport::CompressionOptions::Mode::kOff});
  Bytes empty;
  enc.Encode(U8(MsgType::kBye), {}, empty);
  c.Write("frame", "empty", empty);
}

void Protocol(Corpus& c) {
  Hello hello{.software_version = "0.1.0", .node_name = "mdm-a", .clock_ns = 1700000000};
  hello.lineage = {{.id = 77, .number = 1, .node = "mdm-a", .at_ms = 5}};
  hello.primary = true;
  c.Message("protocol", "hello", 0, hello);
  c.Message("protocol", "error", 1, ErrorMsg{.code = 5, .message = "no such root"});
  c.Message("protocol", "list_request", 2, ListRequest{.rehash_all = true, .roots = {"a", "b"}});
  ListEntries list{.root = 1};
  list.entries = {{.path = "d", .type = FileType::kDirectory, .mode = 0755},
                  {.path = "d/f", .mode = 0644, .size = 9000, .hashed = true, .digest = 3},
                  {.path = "d/h", .mode = 0644, .size = 9000, .hardlink_to = "d/f"},
                  {.path = "d/l", .type = FileType::kSymlink, .link_target = "f"}};
  c.Message("protocol", "list_entries", 3, list);
  Encoder reqs;
  reqs.PutU8(4);
  reqs.PutVarint(3);
  Encode(FileRequest{.id = 1, .path = "d/f"}, reqs);
  Encode(FileRequest{.id = 2, .path = "d/g", .kind = RequestKind::kBlocks, .have_blocks = {1, 2}},
         reqs);
  Encode(FileRequest{.id = 3, .path = "d/k", .kind = RequestKind::kDelta, .signature = "sig"},
         reqs);
  c.Write("protocol", "file_requests", reqs.view());
  Bytes block(snapshot::kBlockSize + 10, std::byte{7});
  c.Message("protocol", "file_data", 5,
            FileData{.id = 1, .first_block = 4, .hashes = {11, 12}, .data = block});
  Bytes delta(40, std::byte{1});
  c.Message("protocol", "file_delta", 6,
            FileDelta{.id = 3, .offset = 2 * snapshot::kBlockSize, .length = 100, .delta = delta});
  c.Message("protocol", "file_done", 7,
            FileDone{.id = 1, .size = 9000, .digest = 3, .mtime_ns = 1});
  c.Message("protocol", "done", 8, Done{.files_sent = 3, .bytes_read = 27000});
}

void DbMessages(Corpus& c) {
  DbRequest req{.start_lsn = 0x1000, .source_id = "7300/mdm", .pinned = true};
  req.repair = {{.schema = "public", .name = "devices", .key = "id", .from = "10", .to = "20"}};
  c.Message("db_protocol", "request", 0, req);
  DbBegin begin{.full = true, .reason = "first sync", .source_id = "7300/mdm"};
  begin.tables = {{.schema = "public", .name = "devices", .description = "id bigint; key (id)"}};
  c.Message("db_protocol", "begin", 1, begin);
  std::string sql = "CREATE TABLE public.devices (id bigint PRIMARY KEY);";
  c.Message("db_protocol", "sql", 2,
            DbSql{.last = true, .text = std::as_bytes(std::span(sql.data(), sql.size()))});
  c.Message("db_protocol", "copy_begin", 3,
            DbCopyBegin{.schema = "public", .name = "devices", .columns = {"id", "name"}});
  c.Message("db_protocol", "copy_end", 4, DbCopyEnd{.rows = 42});
  c.Message("db_protocol", "sequences", 5,
            std::vector<DbSequence>{{.schema = "public", .name = "s", .called = true, .value = 9}});
  c.Message("db_protocol", "end", 6, DbEnd{.end_lsn = 0x2000, .transactions = 1, .changes = 2});
}

// The change-record stream as database-changes frames carry it, cut every 16 bytes.
void ChangeRecords(Corpus& c) {
  using snapshot::PgMessage;
  Encoder stream;
  PgMessage rel{.type = PgMessage::kRelation};
  rel.relation = {.id = 16384, .schema = "public", .name = "devices", .replident = 'd'};
  rel.relation.columns = {{.name = "id", .key = true}, {.name = "name"}};
  EncodeChange(rel, stream);
  PgMessage ins{.type = PgMessage::kInsert, .rel_id = 16384};
  ins.new_tuple = {{.kind = snapshot::PgValue::kText, .text = "1"}, {}};
  EncodeChange(ins, stream);
  PgMessage upd{.type = PgMessage::kUpdate, .rel_id = 16384, .old_kind = 'K'};
  upd.old_tuple = {{.kind = snapshot::PgValue::kText, .text = "1"}, {}};
  upd.new_tuple = {{.kind = snapshot::PgValue::kText, .text = "2"},
                   {.kind = snapshot::PgValue::kUnchanged}};
  EncodeChange(upd, stream);
  PgMessage del{.type = PgMessage::kDelete, .rel_id = 16384, .old_kind = 'K'};
  del.old_tuple = upd.new_tuple;
  EncodeChange(del, stream);
  EncodeChange(PgMessage{.type = PgMessage::kTruncate, .truncate_rels = {16384}}, stream);
  EncodeChange(PgMessage{.type = PgMessage::kCommit, .end_lsn = 0x3000}, stream);
  Bytes seed{std::byte{7}};
  auto rest = stream.view();
  while (!rest.empty()) {
    size_t n = std::min<size_t>(16, rest.size());
    seed.push_back(static_cast<std::byte>(n));
    seed.insert(seed.end(), rest.begin(), rest.begin() + static_cast<ptrdiff_t>(n));
    rest = rest.subspan(n);
  }
  c.Write("db_protocol", "changes", seed);
}

void VerifyMessages(Corpus& c) {
  c.Message("verify_protocol", "request", 0,
            VerifyRequest{.roots = {"a"}, .database = true, .rehash_all = false});
  c.Message("verify_protocol", "root", 1, VerifyRoot{.root = 0, .entries = 12, .digest = 99});
  VerifyTables tables;
  tables.tables = {{.table = "public.devices", .rows = 3, .hash = "-12", .key = "id"}};
  tables.tables[0].bounds = {"100"};
  tables.tables[0].buckets = {{.rows = 1, .hash = "5"}, {.rows = 2, .hash = "-17"}};
  c.Message("verify_protocol", "tables", 2, tables);
  c.Message("verify_protocol", "dirs", 3, VerifyPaths{.root = 0, .paths = {"", "d"}});
  VerifyChildren children{.root = 0, .last = true};
  children.children = {{.path = "d/f", .mode = 0644, .size = 10, .digest = 4},
                       {.path = "d/l", .type = FileType::kSymlink, .link_target = "f"}};
  c.Message("verify_protocol", "children", 4, children);
  c.Message("verify_protocol", "blocks", 5,
            VerifyBlocks{.root = 0, .path = "d/f", .first = 0, .last = true, .hashes = {1, 2}});
}

// pgoutput in network byte order, as PostgreSQL's walsender writes it.
class PgMsg {
 public:
  PgMsg& U8(uint8_t v) {
    b_.push_back(static_cast<std::byte>(v));
    return *this;
  }
  PgMsg& U16(uint16_t v) { return Int(v, 2); }
  PgMsg& U32(uint32_t v) { return Int(v, 4); }
  PgMsg& U64(uint64_t v) { return Int(v, 8); }
  PgMsg& Str(const std::string& s) {
    for (char ch : s) U8(static_cast<uint8_t>(ch));
    return U8(0);
  }
  PgMsg& Text(const std::string& s) {
    U8('t').U32(static_cast<uint32_t>(s.size()));
    for (char ch : s) U8(static_cast<uint8_t>(ch));
    return *this;
  }
  const Bytes& bytes() const { return b_; }

 private:
  PgMsg& Int(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) U8(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes b_;
};

std::vector<std::pair<std::string, Bytes>> PgMessages() {
  std::vector<std::pair<std::string, Bytes>> m;
  m.emplace_back("begin", PgMsg().U8('B').U64(0x3000).U64(0).U32(740).bytes());
  PgMsg rel;
  rel.U8('R').U32(16384).Str("public").Str("devices").U8('d').U16(2);
  rel.U8(1).Str("id").U32(20).U32(0xffffffff).U8(0).Str("name").U32(25).U32(0xffffffff);
  m.emplace_back("relation", rel.bytes());
  m.emplace_back("insert", PgMsg().U8('I').U32(16384).U8('N').U16(2).Text("1").U8('n').bytes());
  PgMsg upd;
  upd.U8('U').U32(16384).U8('K').U16(2).Text("1").U8('n').U8('N').U16(2).Text("2").U8('u');
  m.emplace_back("update", upd.bytes());
  m.emplace_back("delete", PgMsg().U8('D').U32(16384).U8('K').U16(2).Text("2").U8('n').bytes());
  m.emplace_back("truncate", PgMsg().U8('T').U32(1).U8(1).U32(16384).bytes());
  PgMsg marker;
  marker.U8('M').U8(1).U64(0x3100).Str("hasync").U32(6);
  for (char ch : std::string("sync-1")) marker.U8(static_cast<uint8_t>(ch));
  m.emplace_back("message", marker.bytes());
  m.emplace_back("commit", PgMsg().U8('C').U8(0).U64(0x3200).U64(0x3280).U64(0).bytes());
  return m;
}

void PgOutput(Corpus& c) {
  auto messages = PgMessages();
  Bytes stream{std::byte{0}};  // the change filter's seed: every message, marker last
  for (const auto& [name, body] : messages) {
    Bytes direct{std::byte{0}};
    direct.insert(direct.end(), body.begin(), body.end());
    c.Write("pgoutput", name, direct);
    stream.push_back(static_cast<std::byte>(body.size() >> 8));
    stream.push_back(static_cast<std::byte>(body.size() & 0xff));
    stream.insert(stream.end(), body.begin(), body.end());
  }
  PgMsg wal;
  wal.U8(1).U8('w').U64(0x3000).U64(0x3300).U64(0);
  Bytes xlog = wal.bytes();
  xlog.insert(xlog.end(), messages[2].second.begin(), messages[2].second.end());
  c.Write("pgoutput", "xlogdata", xlog);
  c.Write("pgoutput", "keepalive", PgMsg().U8(1).U8('k').U64(0x3300).U64(0).U8(1).bytes());
  c.Write("change_filter", "stream", stream);
  stream[0] = std::byte{1};
  c.Write("change_filter", "stream_bound", stream);
}

Status Deltas(Corpus& c) {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  std::string path = std::filesystem::temp_directory_path() / "hasync-fuzz-basis";
  Bytes basis = BasisBytes();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(basis.data()), static_cast<std::streamsize>(kBasisSize));
  auto sig = ComputeSignature(*env, path, kBasisSize, 1);
  std::filesystem::remove(path);
  HASYNC_RETURN_IF_ERROR(sig.status());
  std::string seed = std::string(1, '\0') + *sig;
  c.Write("delta", "signature", seed);
  HASYNC_ASSIGN_OR_RETURN(auto loaded, LoadSignature(std::as_bytes(std::span(*sig))));
  // The new file: the basis with 100 bytes inserted near its start, cut back to its length.
  Bytes changed = basis;
  changed.insert(changed.begin() + 1000, 100, std::byte{0x5a});
  changed.resize(kBasisSize);
  MemoryFile file(changed);
  uint64_t hashes[kBasisSize / snapshot::kBlockSize];
  HASYNC_ASSIGN_OR_RETURN(auto delta, ComputeDelta(loaded, file, 0, kBasisSize, 1 << 20, hashes));
  if (!delta) return Status(Code::kInternal, "the seed delta passed its cap");
  c.Write("delta", "delta", std::string(1, '\1') + *delta);
  return Status::Ok();
}

void Journals(Corpus& c) {
  Journal j{.sync_id = 12,
            .db_commit = true,
            .roots = {"/srv/a"},
            .staging_dirs = {"/srv/a/.hasync-staging/12"}};
  j.ops = {{.kind = OpKind::kMkdir, .path = "/srv/a/d", .type = FileType::kDirectory, .mode = 0755},
           {.kind = OpKind::kRename, .path = "/srv/a/d/f", .source = "/srv/a/.hasync-staging/12/1"},
           {.kind = OpKind::kLink,
            .path = "/srv/a/d/h",
            .source = "/srv/a/d/f",
            .temp = "/srv/a/.hasync-staging/12/2"},
           {.kind = OpKind::kWriteBlocks,
            .path = "/srv/a/d/big",
            .source = "/srv/a/.hasync-staging/12/redo",
            .runs = {{.offset = 8192, .length = 8192, .redo_offset = 0}}},
           {.kind = OpKind::kMeta,
            .path = "/srv/a/d/f",
            .mode = 0640,
            .set_owner = true,
            .uid = 1000,
            .gid = 1000,
            .mtime_ns = 1700000000},
           {.kind = OpKind::kRemove, .path = "/srv/a/old", .type = FileType::kSymlink}};
  c.Sealed("journal", "ops", j.Serialize());
  c.Sealed("journal", "empty", Journal{.sync_id = 1}.Serialize());
}

void Manifests(Corpus& c) {
  std::vector<snapshot::Entry> entries(3);
  entries[0].path = "d";
  entries[0].type = FileType::kDirectory;
  entries[0].mode = 0755;
  entries[1].path = "d/f";
  entries[1].mode = 0644;
  entries[1].size = 9000;
  entries[1].hashed = true;
  entries[1].blocks = {5, 6};
  entries[1].digest = 7;
  entries[2].path = "d/l";
  entries[2].type = FileType::kSymlink;
  entries[2].link_target = "f";
  c.Sealed("manifest", "tree", snapshot::Manifest(entries).Serialize());
  c.Sealed("manifest", "empty", snapshot::Manifest().Serialize());
}

// Settings files as README.md documents them: a Secondary with a database, an HA Primary.
void SettingsFiles(Corpus& c) {
  c.Write("settings", "secondary", R"([node]
name = "mdm-b"
state_dir = "/var/lib/hasync"

[[files]]
name = "data"
root = "/srv/data"
exclude = ["*.tmp", "cache/**"]

[sync]
compression = "auto"
threads = 4
verify = "sample"

[secondary]
primary = "mdm-a"
start_time = "01:00"
run_every = "4h"

[database]
conninfo = "host=127.0.0.1 dbname=mdm user=hasync"
exclude_tables = ["public.sessions"]

[ssh]
port = 2222
keep_connection_s = 600
)");
  c.Write("settings", "primary_ha", R"([node]
name = "mdm-a"
state_dir = "/var/lib/hasync"

[ha]
enabled = true
mode = "primary"
node_status = "active"
promote_hook = "/usr/local/bin/promote"

[failover]
heartbeat_interval = "10s"
failures_before_failover = 3
if_failure_detected = "promote"
witness_url = "http://10.0.0.9/health"

[notify]
email = "ops@example.com"
on_failure = true
retry_interval = "30s"

[status]
listen = "0.0.0.0:8443"
)");
}

void HttpRequests(Corpus& c) {
  c.Write("status_pages", "status", "GET /status/status.html HTTP/1.1\r\nHost: a\r\n\r\n");
  c.Write("status_pages", "head", "HEAD /hastatus.html HTTP/1.0\r\n\r\n");
  c.Write("status_pages", "keepalive",
          "GET /status.json HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"
          "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br\r\n\r\n");
  c.Write("status_pages", "post",
          "POST /status.json?x=1&y=%20 HTTP/1.1\r\nContent-Length: 5\r\n"
          "Content-Type: application/x-www-form-urlencoded\r\n\r\na=b&c");
  c.Write("status_pages", "chunked",
          "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  c.Write("status_pages", "range",
          "GET /metrics HTTP/1.1\r\nRange: bytes=0-10,20-\r\nExpect: 100-continue\r\n\r\n");
}

}  // namespace
}  // namespace hasync::fuzz

int main(int argc, char** argv) {
  using namespace hasync::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR (fuzz/corpus)\n");
    return 2;
  }
  Corpus c(argv[1]);
  Frames(c);
  Protocol(c);
  DbMessages(c);
  ChangeRecords(c);
  VerifyMessages(c);
  PgOutput(c);
  hasync::Status s = Deltas(c);
  if (!s.ok()) {
    std::fprintf(stderr, "make_corpus: %s\n", s.ToString().c_str());
    return 1;
  }
  Journals(c);
  Manifests(c);
  SettingsFiles(c);
  HttpRequests(c);
  return 0;
}
