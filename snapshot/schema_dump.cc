// pg_dump runs as a child process without a shell; the connection's password reaches it through
// its environment, never its command line. hasync's own schema is always left out: it is each
// node's own bookkeeping. Owners and privileges are left out too: the Secondary applies as a role
// without superuser, which may neither give objects to other roles (and could not drop them at
// the next full copy if it did) nor name roles that exist only on the Primary; there everything
// replicated is the apply role's, and access for other roles is granted on that node.
#include "snapshot/schema_dump.h"

#include <string_view>

#include "common/process.h"

namespace hasync::snapshot {
namespace {

// The post-data section runs without --schema-only: with data, pg_dump adds to it (and only to
// it: tables' rows and large objects are the data section) REFRESH MATERIALIZED VIEW for each
// materialized view populated in the snapshot (pg_class.relispopulated), ordered so that one
// over another (directly or through a view) comes after it; a view left WITH NO DATA gets none.
// That ordering is pg_dump's own (buildMatViewRefreshDependencies over pg_depend and
// pg_rewrite), read in the copy's snapshot, so hasync does not repeat it. The Primary decides,
// not the Secondary: the schema the Secondary receives creates every materialized view WITH NO
// DATA, so only the Primary knows which were populated.
std::vector<std::string> DumpArgs(const SchemaDumpOptions& o, const char* section) {
  std::vector<std::string> a = {o.pg_dump,
                                std::string("--section=") + section,
                                "--snapshot=" + o.snapshot,
                                "--no-publications",
                                "--no-subscriptions",
                                "--no-owner",
                                "--no-privileges",
                                "--no-password",
                                std::string("--exclude-schema=") + kStateSchema};
  if (std::string_view(section) != "post-data") a.insert(a.begin() + 1, "--schema-only");
  for (const auto& n : o.scope.include_schemas) a.push_back("--schema=" + n);
  for (const auto& n : o.scope.exclude_schemas) a.push_back("--exclude-schema=" + n);
  if (!o.objects.empty()) a.push_back("--strict-names");
  for (const auto& [schema, name] : o.objects) a.push_back("--table=" + ExactPattern(schema, name));
  return a;
}

Result<std::string> RunDump(const SchemaDumpOptions& o, const char* section) {
  HASYNC_ASSIGN_OR_RETURN(ProcessOutput out, RunProcess(DumpArgs(o, section), o.env));
  if (out.status != 0) {
    std::string err = out.err.substr(0, 2000);
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return Status(Code::kDatabase, "pg_dump failed on the Primary: " + err);
  }
  return StripMetaCommands(out.out);
}

}  // namespace

std::string ExactPattern(const std::string& schema, const std::string& name) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  return quote(schema) + "." + quote(name);
}

SchemaDump SchemaDump::Start(const SchemaDumpOptions& options) {
  // Each run has its own copy of the options: they outlive the caller's.
  auto pre = std::async(std::launch::async, [o = options] { return RunDump(o, "pre-data"); });
  auto post = std::async(std::launch::async, [o = options] { return RunDump(o, "post-data"); });
  return SchemaDump(std::move(pre), std::move(post));
}

Result<SchemaScripts> SchemaDump::Wait() {
  Result<std::string> pre = pre_.get();
  Result<std::string> post = post_.get();
  HASYNC_RETURN_IF_ERROR(pre.status());
  HASYNC_RETURN_IF_ERROR(post.status());
  return SchemaScripts{.pre_data = std::move(*pre), .post_data = std::move(*post)};
}

Result<std::string> StripMetaCommands(const std::string& script) {
  std::string out;
  out.reserve(script.size());
  size_t pos = 0;
  while (pos < script.size()) {
    size_t end = script.find('\n', pos);
    if (end == std::string::npos) end = script.size();
    std::string_view line(script.data() + pos, end - pos);
    if (!line.empty() && line[0] == '\\') {
      if (line.rfind("\\restrict", 0) != 0 && line.rfind("\\unrestrict", 0) != 0) {
        return Status(Code::kDatabase, "pg_dump wrote a psql command hasync cannot run: " +
                                           std::string(line.substr(0, 40)));
      }
    } else {
      out.append(line);
      out.push_back('\n');
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace hasync::snapshot
