// Every statement here is written by this node from its own catalog or from names it checked
// against it; the Primary's own SQL (its definitions) goes through the script checker in
// full_load.cc like a full copy's.
#include "engine/db/schema_apply.h"

#include <map>
#include <set>
#include <tuple>

#include "common/log.h"
#include "engine/db/schema_plan.h"

namespace hasync::engine {
namespace {

using snapshot::ObjectKind;
using snapshot::PgResult;
using snapshot::SchemaObject;

std::string Qualified(const snapshot::PgConn& c, const std::string& schema,
                      const std::string& name) {
  return c.QuoteIdent(schema) + "." + c.QuoteIdent(name);
}

}  // namespace

Status SchemaApply::Describe() {
  HASYNC_ASSIGN_OR_RETURN(mine_, snapshot::ReadSchemaObjects(conn_, scope_));
  return Status::Ok();
}

const SchemaObject* SchemaApply::Find(const SchemaChange& c) const {
  for (const auto& o : mine_) {
    if (o.kind == c.kind && o.schema == c.schema && o.name == c.name) return &o;
  }
  return nullptr;
}

Status SchemaApply::AddLabels(const std::vector<SchemaChange>& changes) {
  for (const auto& c : changes) {
    if (c.kind != ObjectKind::kType || c.action != SchemaAction::kAltered) continue;
    const SchemaObject* o = Find(c);
    if (o == nullptr || !(o->flags & snapshot::kObjectEnum)) {
      return Status(Code::kProtocol, "the Primary asked to add labels to " + c.schema + "." +
                                         c.name + ", which is no enum type here");
    }
    auto adds = LabelsToAdd(o->labels, c.labels);
    if (!adds) {
      return Status(Code::kSchema, "enum type " + c.schema + "." + c.name +
                                       " here has labels the Primary's lacks; run hasync sync "
                                       "--full-db");
    }
    const std::string type = Qualified(conn_, c.schema, c.name);
    for (const auto& a : *adds) {
      std::string sql =
          "ALTER TYPE " + type + " ADD VALUE IF NOT EXISTS " + conn_.QuoteLiteral(a.label);
      if (!a.after.empty()) sql += " AFTER " + conn_.QuoteLiteral(a.after);
      if (!a.before.empty()) sql += " BEFORE " + conn_.QuoteLiteral(a.before);
      HASYNC_RETURN_IF_ERROR(
          conn_.Run(sql).Context("adding a label to " + c.schema + "." + c.name));
    }
    Log("database")->info("enum type {}.{}: {} labels added", c.schema, c.name, adds->size());
  }
  return Status::Ok();
}

Status SchemaApply::Prepare(const std::vector<SchemaChange>& changes) {
  std::set<std::string> going;  // tables dropped or re-created, quoted and qualified
  for (const auto& c : changes) {
    if (!snapshot::SchemaInScope(scope_, c.schema)) {
      return Status(Code::kProtocol, "the Primary sent a schema change in " + c.schema +
                                         ", which is outside this node's replicated schemas");
    }
    if (c.action != SchemaAction::kAdded && Find(c) == nullptr) {
      return Status(Code::kProtocol, "the Primary sent a change of " + DescribeChange(c) +
                                         ", which this node does not have");
    }
    if (c.kind == ObjectKind::kTable && c.action != SchemaAction::kAdded) {
      going.insert(Qualified(conn_, c.schema, c.name));
    }
  }
  // Other tables' foreign keys into the tables about to go: DROP ... CASCADE removes them.
  HASYNC_RETURN_IF_ERROR(snapshot::WithCatalogSearchPath(conn_, [&]() -> Status {
    std::set<std::string> oids;
    for (const auto& t : going) {
      HASYNC_ASSIGN_OR_RETURN(PgResult r, conn_.ExecParams("SELECT $1::regclass::oid", {t}));
      oids.insert(r.Get(0, 0));
    }
    for (const auto& oid : oids) {
      HASYNC_ASSIGN_OR_RETURN(
          PgResult r,
          conn_.ExecParams("SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, "
                           "c.relname, k.conname, pg_get_constraintdef(k.oid)), k.conrelid "
                           "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN "
                           "pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND "
                           "k.confrelid = $1::oid ORDER BY k.conname",
                           {oid}));
      for (int i = 0; i < r.rows(); ++i) {
        if (!oids.count(r.Get(i, 1))) foreign_keys_.push_back(r.Get(i, 0));
      }
    }
    return Status::Ok();
  }));
  // Drops in the reverse of the kinds' order: what reads an object goes before it.
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) HASYNC_RETURN_IF_ERROR(Drop(*it));
  for (const auto& c : changes) {
    if (c.action != SchemaAction::kAdded) continue;
    if (c.kind == ObjectKind::kSchema) {
      HASYNC_RETURN_IF_ERROR(conn_.Run("CREATE SCHEMA " + conn_.QuoteIdent(c.schema)));
    } else if (c.kind == ObjectKind::kType) {
      std::string labels;
      for (const auto& l : c.labels) labels += (labels.empty() ? "" : ", ") + conn_.QuoteLiteral(l);
      HASYNC_RETURN_IF_ERROR(conn_.Run("CREATE TYPE " + Qualified(conn_, c.schema, c.name) +
                                       " AS ENUM (" + labels + ")"));
    }
  }
  return Status::Ok();
}

Status SchemaApply::Drop(const SchemaChange& c) {
  const std::string q =
      c.name.empty() ? conn_.QuoteIdent(c.schema) : Qualified(conn_, c.schema, c.name);
  const bool dropped = c.action == SchemaAction::kDropped;
  std::string sql;
  switch (c.kind) {
    case ObjectKind::kView:
      if (c.action != SchemaAction::kAdded) sql = "DROP VIEW " + q;
      break;
    case ObjectKind::kTable:
      // CASCADE takes other tables' foreign keys into it, restored by Finish.
      if (c.action != SchemaAction::kAdded) sql = "DROP TABLE " + q + " CASCADE";
      break;
    case ObjectKind::kSequence:
      // An altered one went with its table.
      if (dropped) sql = "DROP SEQUENCE IF EXISTS " + q;
      break;
    case ObjectKind::kFunction:
      if (dropped) {
        HASYNC_ASSIGN_OR_RETURN(
            PgResult r,
            conn_.ExecParams("SELECT format('DROP ROUTINE %I.%I(%s)', n.nspname, p.proname, "
                             "pg_get_function_identity_arguments(p.oid)) FROM pg_proc p JOIN "
                             "pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND "
                             "p.proname || '(' || pg_get_function_identity_arguments(p.oid) || "
                             "')' = $2",
                             {c.schema, c.name}));
        if (r.rows() == 1) sql = r.Get(0, 0);
      }
      break;
    case ObjectKind::kType:
      if (dropped) sql = "DROP TYPE " + q;
      break;
    case ObjectKind::kSchema:
      if (dropped) sql = "DROP SCHEMA " + q;
      break;
    case ObjectKind::kExtension:
      break;  // never planned
  }
  if (sql.empty()) return Status::Ok();
  return conn_.Run(sql).Context("carrying the Primary's schema change (" + DescribeChange(c) + ")");
}

Status SchemaApply::Finish(const std::vector<SchemaChange>& changes) {
  for (const auto& fk : foreign_keys_) {
    HASYNC_RETURN_IF_ERROR(conn_.Run(fk).Context("restoring a foreign key"));
  }
  HASYNC_ASSIGN_OR_RETURN(auto now, snapshot::ReadSchemaObjects(conn_, scope_));
  using Key = std::tuple<ObjectKind, std::string, std::string>;
  std::map<Key, std::string> want;  // digest; "" absent
  for (const auto& o : mine_) want[{o.kind, o.schema, o.name}] = o.digest;
  for (const auto& c : changes) want[{c.kind, c.schema, c.name}] = c.digest;
  std::map<Key, std::string> have;
  for (const auto& o : now) have[{o.kind, o.schema, o.name}] = o.digest;
  for (const auto& [k, digest] : want) {
    auto it = have.find(k);
    const std::string named = std::string(snapshot::ObjectKindName(std::get<0>(k))) + " " +
                              std::get<1>(k) + (std::get<2>(k).empty() ? "" : "." + std::get<2>(k));
    if (digest.empty() && it != have.end()) {
      return Status(Code::kSchema,
                    "after the Primary's schema change, " + named + " is still on this node");
    }
    if (!digest.empty() && (it == have.end() || it->second != digest)) {
      return Status(Code::kSchema, "after the Primary's schema change, " + named +
                                       " on this node differs from the Primary's; nothing was "
                                       "applied: run hasync sync --full-db");
    }
  }
  return Status::Ok();
}

}  // namespace hasync::engine
