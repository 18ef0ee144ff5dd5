// Test double for fault injection: a Primary that passes the version gate and then lies.
// Modes: dotdot, absolute, through-symlink (lists a symlink then a file below it), oversized
// (a frame header announcing more than the limit), garbage (not a hasync frame at all),
// grow (lists a 4-byte file, then sends a block 800 MB into it), unasked-delta (a rolling
// delta for a file the Secondary asked for whole), db-scope (answers the database request with a
// full copy that loads hasync's own table), db-relation (changes to a table outside the scope),
// db-program, db-program-do, db-program-function, db-program-refresh FILE (a full copy whose
// script runs `touch FILE` through COPY ... TO PROGRAM: as a statement, inside a DO block, in a
// function body that a materialized view calls, or in one that the post-data section's REFRESH
// MATERIALIZED VIEW calls),
// huge-size (lists a file of 2^50 bytes and sends its first block), reserved-name (lists a
// top-level `.hasync-staging` file and sends it).
#include <cstring>
#include <string>

#include "common/hash.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/protocol.h"
#include "transport/channel.h"
#include "transport/frame_io.h"

using namespace hasync;
using namespace hasync::engine;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "dotdot";
  auto ch = transport::OpenStdioChannel();
  transport::FrameDecoder dec;
  transport::FrameEncoder enc({});
  if (mode == "garbage") {
    std::string junk = "SSH-2.0-OpenSSH_9.2 welcome\r\n" + std::string(64, 'x');
    (void)ch->WriteAll(std::as_bytes(std::span(junk)));
    return 0;
  }
  auto hello = transport::ReadFrame(*ch, dec);
  if (!hello.ok()) return 1;
  auto peer = DecodeHello(hello->payload);
  Encoder e;
  Encode(*peer, e);  // echo the Secondary's versions: the gate passes
  (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kHello), e.view());
  auto request = transport::ReadFrame(*ch, dec);  // database request or list request
  if (mode.rfind("db-program", 0) == 0) {
    if (!request.ok() || request->type != static_cast<uint8_t>(MsgType::kDbRequest)) return 1;
    const std::string touch = std::string("touch ") + (argc > 2 ? argv[2] : "/tmp/hasync-pwned");
    std::string script =
        "SET statement_timeout = 0;\nCREATE TABLE public.innocent (id int PRIMARY KEY);\n";
    if (mode == "db-program") script += "COPY (SELECT 1) TO PROGRAM '" + touch + "';\n";
    if (mode == "db-program-do") {
      script += "DO $$BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''" + touch + "'''; END$$;\n";
    }
    const std::string pwn =
        "CREATE FUNCTION public.pwn() RETURNS int LANGUAGE plpgsql AS $$BEGIN COPY "
        "(SELECT 1) TO PROGRAM '" +
        touch + "'; RETURN 1; END$$;\n";
    if (mode == "db-program-function") {
      script += pwn + "CREATE MATERIALIZED VIEW public.pwned AS SELECT public.pwn();\n";
    }
    // The one data statement the check lets through: the refresh runs the view's query.
    std::string post_script;
    if (mode == "db-program-refresh") {
      script +=
          pwn + "CREATE MATERIALIZED VIEW public.pwned AS SELECT public.pwn() WITH NO DATA;\n";
      post_script = "REFRESH MATERIALIZED VIEW public.pwned;\n";
    }
    auto send = [&](MsgType t, const Encoder& m) {
      (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(t), m.view());
    };
    Encoder b, pre, post, end;
    Encode(DbBegin{.full = true, .reason = "hostile", .source_id = "x", .tables = {}}, b);
    send(MsgType::kDbBegin, b);
    Encode(
        DbSql{
            .section = DbSection::kPreData, .last = true, .text = std::as_bytes(std::span(script))},
        pre);
    send(MsgType::kDbSql, pre);
    Encode(DbSql{.section = DbSection::kPostData,
                 .last = true,
                 .text = std::as_bytes(std::span(post_script))},
           post);
    send(MsgType::kDbSql, post);
    Encode(DbEnd{.end_lsn = 1}, end);
    send(MsgType::kDbEnd, end);
    return 0;  // gone: a Secondary that ran the script finds the connection closed next
  }
  if (mode == "db-scope" || mode == "db-relation") {
    if (!request.ok() || request->type != static_cast<uint8_t>(MsgType::kDbRequest)) return 1;
    auto send = [&](MsgType t, const Encoder& m) {
      (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(t), m.view());
    };
    Encoder b;
    Encode(DbBegin{.full = mode == "db-scope", .reason = "hostile", .source_id = "x", .tables = {}},
           b);
    send(MsgType::kDbBegin, b);
    Encoder c;
    if (mode == "db-scope") {
      Encode(DbCopyBegin{.schema = "hasync", .name = "sync_state", .columns = {"id"}}, c);
      send(MsgType::kDbCopyBegin, c);
    } else {
      snapshot::PgMessage rel;
      rel.type = snapshot::PgMessage::kRelation;
      rel.relation = {.id = 1,
                      .schema = "pg_catalog",
                      .name = "pg_authid",
                      .replident = 'd',
                      .columns = {{"rolname", true, 0}}};
      EncodeChange(rel, c);
      send(MsgType::kDbChanges, c);
    }
    (void)transport::ReadFrame(*ch, dec);
    return 0;
  }
  if (mode == "oversized") {
    std::byte h[transport::kFrameHeaderSize] = {};
    h[0] = std::byte{0x53};
    h[1] = std::byte{0x48};
    h[2] = std::byte{1};
    h[3] = std::byte{4};
    uint32_t huge = 1u << 30;
    std::memcpy(h + 8, &huge, 4);
    std::memcpy(h + 12, &huge, 4);
    (void)ch->WriteAll(h);
    return 0;
  }
  ListEntries list{.root = 0, .entries = {}};
  if (mode == "dotdot") list.entries.push_back({.path = "../escaped", .mode = 0644, .size = 4});
  if (mode == "absolute") list.entries.push_back({.path = "/tmp/escaped", .mode = 0644, .size = 4});
  if (mode == "grow" || mode == "unasked-delta") {
    list.entries.push_back({.path = "f", .mode = 0644, .size = 4});
  }
  if (mode == "huge-size") list.entries.push_back({.path = "f", .mode = 0644, .size = 1ull << 50});
  if (mode == "reserved-name") {
    list.entries.push_back({.path = ".hasync-staging", .mode = 0644, .size = 4});
  }
  if (mode == "through-symlink") {
    list.entries.push_back({.path = "a", .type = FileType::kSymlink, .link_target = "/tmp"});
    list.entries.push_back({.path = "a/escaped", .mode = 0644, .size = 4});
  }
  Encoder l;
  Encode(list, l);
  (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kListEntries), l.view());
  Encoder end;
  Encode(ListEnd{.roots = {RootMeta{.mode = 0755, .uid = 0, .gid = 0, .mtime_ns = 0}}}, end);
  (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kListEnd), end.view());
  // Then answer any request with data, as a real attacker would.
  auto reqs_frame = transport::ReadFrame(*ch, dec);
  if (!reqs_frame.ok()) return 0;
  auto reqs = DecodeFileRequests(reqs_frame->payload);
  if (!reqs.ok() || reqs->empty()) return 0;
  uint32_t id = (*reqs)[0].id;
  std::string block = "evil";
  Encoder d;
  if (mode == "grow") {
    FileData m{.id = id,
               .first_block = 100000,
               .hashes = {Hash64(block.data(), block.size())},
               .data = std::as_bytes(std::span(block))};
    Encode(m, d);
    (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kFileData), d.view());
  }
  if (mode == "unasked-delta") {
    FileDelta m{.id = id, .offset = 0, .length = 4, .delta = std::as_bytes(std::span(block))};
    Encode(m, d);
    (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kFileDelta), d.view());
  }
  if (mode == "huge-size" || mode == "reserved-name") {
    // Answer as an honest Primary would, with the listed size.
    for (const FileRequest& r : *reqs) {
      Encoder m;
      Encode(FileData{.id = r.id,
                      .first_block = 0,
                      .hashes = {Hash64(block.data(), block.size())},
                      .data = std::as_bytes(std::span(block))},
             m);
      (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kFileData), m.view());
    }
    (void)transport::ReadFrame(*ch, dec);  // requests end
    for (const FileRequest& r : *reqs) {
      uint64_t size = mode == "huge-size" ? 1ull << 50 : 4;
      uint64_t h = Hash64(block.data(), block.size());
      Encoder m;
      Encode(FileDone{.id = r.id, .size = size, .digest = FileDigest(std::span(&h, 1), size)}, m);
      (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kFileDone), m.view());
    }
    Encoder m;
    Encode(Done{.files_sent = reqs->size()}, m);
    (void)transport::WriteFrame(*ch, enc, static_cast<uint8_t>(MsgType::kDone), m.view());
  }
  (void)transport::ReadFrame(*ch, dec);
  return 0;
}
