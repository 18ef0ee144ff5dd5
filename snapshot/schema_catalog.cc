// One query per kind, unioned, each row an object and the md5 of its definition as pg_get_*def
// and format_type print it. What a digest covers is what a sync must carry: a table's columns
// (name, type, not null, default, identity, generated, collation), constraints, indexes,
// triggers, policies, persistence, replica identity and partitioning; a sequence's parameters and
// owning column; a type's labels, base type or attributes; a function's whole definition; a
// view's query. Not covered: owners, privileges, comments, statistics, storage parameters.
#include "snapshot/schema_catalog.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace hasync::snapshot {
namespace {

constexpr char kUser[] =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
    "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

// Not a member of an extension: the extension makes its own objects on each node.
std::string NotMember(const char* catalog, const char* oid) {
  return std::string(" AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '") + catalog +
         "'::regclass AND e.objid = " + oid + " AND e.deptype = 'e')";
}

std::string ObjectsQuery() {
  const std::string user = kUser;
  // Views or materialized views whose rules read relation c (other than its own rule).
  const std::string has_views =
      "EXISTS (SELECT 1 FROM pg_depend dp JOIN pg_rewrite rw ON rw.oid = dp.objid WHERE "
      "dp.classid = 'pg_rewrite'::regclass AND dp.refclassid = 'pg_class'::regclass AND "
      "dp.refobjid = c.oid AND rw.ev_class <> c.oid)";
  // Anything DROP TABLE ... CASCADE would take with table c, but other tables' foreign keys
  // (a sync restores those): views, SQL-standard function bodies, other tables' columns of its
  // row type, policies reading it.
  const std::string has_dependents =
      "EXISTS (SELECT 1 FROM pg_depend dp WHERE dp.deptype = 'n' AND ((dp.refclassid = "
      "'pg_class'::regclass AND dp.refobjid = c.oid) OR (dp.refclassid = 'pg_type'::regclass AND "
      "dp.refobjid = c.reltype)) AND ((dp.classid = 'pg_rewrite'::regclass AND EXISTS (SELECT 1 "
      "FROM pg_rewrite rw WHERE rw.oid = dp.objid AND rw.ev_class <> c.oid)) OR dp.classid = "
      "'pg_proc'::regclass OR (dp.classid = 'pg_class'::regclass AND dp.objid <> c.oid) OR "
      "(dp.classid = 'pg_policy'::regclass AND EXISTS (SELECT 1 FROM pg_policy po WHERE po.oid = "
      "dp.objid AND po.polrelid <> c.oid))))";
  return
      // Schemas.
      "SELECT 0, n.nspname, '', md5(n.nspname), 0, '', ''::text FROM pg_namespace n WHERE " + user +
      NotMember("pg_namespace", "n.oid") +
      // Extensions: their version.
      " UNION ALL SELECT 1, n.nspname, x.extname, x.extversion, 0, '', ''::text FROM pg_extension "
      "x "
      "JOIN "
      "pg_namespace n ON n.oid = x.extnamespace WHERE " +
      user +
      // Types: enums, domains, composites, ranges (not arrays, not tables' row types).
      " UNION ALL SELECT 2, n.nspname, t.typname, md5(concat_ws('|', t.typtype, "
      "CASE t.typtype WHEN 'e' THEN (SELECT string_agg(quote_literal(l.enumlabel), ',' ORDER BY "
      "  l.enumsortorder) FROM pg_enum l WHERE l.enumtypid = t.oid) "
      "WHEN 'd' THEN concat_ws(' ', format_type(t.typbasetype, t.typtypmod), t.typnotnull, "
      "  t.typdefault, (SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), ', ' "
      "  ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid)) "
      "WHEN 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, "
      "  a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid "
      "  AND a.attnum > 0 AND NOT a.attisdropped) "
      "WHEN 'r' THEN (SELECT concat_ws(' ', format_type(r.rngsubtype, NULL), (SELECT co.collname "
      "  FROM pg_collation co WHERE co.oid = r.rngcollation), (SELECT oc.opcname FROM pg_opclass "
      "  oc WHERE oc.oid = r.rngsubopc), r.rngcanonical, r.rngsubdiff) FROM pg_range r WHERE "
      "  r.rngtypid = t.oid) "
      "END)), CASE WHEN t.typtype = 'e' THEN 4 ELSE 0 END, '', ''::text FROM pg_type t JOIN "
      "pg_namespace n "
      "ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typrelid = 0 OR "
      "(SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c') AND " +
      user + NotMember("pg_type", "t.oid") +
      // Functions and procedures; aggregates and window functions by their signature.
      " UNION ALL SELECT 3, n.nspname, p.proname || '(' || "
      "pg_get_function_identity_arguments(p.oid) || ')', md5(CASE WHEN p.prokind IN ('f', 'p') "
      "THEN pg_get_functiondef(p.oid) ELSE p.prokind::text || pg_get_function_arguments(p.oid) || "
      "pg_get_function_result(p.oid) END), CASE WHEN p.prokind IN ('f', 'p') THEN 8 ELSE 0 END, "
      "'', ''::text "
      "FROM pg_proc p JOIN pg_namespace n ON n.oid = "
      "p.pronamespace WHERE " +
      user + NotMember("pg_proc", "p.oid") +
      // Sequences: parameters and the column that owns them.
      " UNION ALL SELECT 4, n.nspname, c.relname, md5(concat_ws('|', format_type(s.seqtypid, "
      "NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle, o.owner, "
      "o.col)), 0, coalesce(o.owner, ''), ''::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid LEFT JOIN LATERAL (SELECT "
      "tn.nspname || '.' || tc.relname AS owner, a.attname AS col FROM pg_depend d JOIN pg_class "
      "tc "
      "ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace JOIN pg_attribute a "
      "ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid WHERE d.classid = "
      "'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND "
      "d.deptype IN ('a', 'i') LIMIT 1) o ON true WHERE " +
      user + NotMember("pg_class", "c.oid") +
      // Tables.
      " UNION ALL SELECT 5, n.nspname, c.relname, md5(concat_ws('|', c.relkind, c.relpersistence, "
      "c.relreplident, c.relrowsecurity, c.relforcerowsecurity, "
      "(SELECT string_agg(concat_ws(' ', quote_ident(a.attname), format_type(a.atttypid, "
      "  a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated, (SELECT co.collname FROM "
      "  pg_collation co WHERE co.oid = a.attcollation AND a.attcollation <> ty.typcollation), "
      "  pg_get_expr(ad.adbin, ad.adrelid)), ', ' ORDER BY a.attnum) FROM pg_attribute a JOIN "
      "  pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND "
      "  ad.adnum = a.attnum WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), "
      "(SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), ', ' ORDER BY "
      "  k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid), "
      "(SELECT string_agg(pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisreplident THEN "
      "  ' (replica identity)' ELSE '' END, ', ' ORDER BY pg_get_indexdef(i.indexrelid)) FROM "
      "  pg_index i WHERE i.indrelid = c.oid), "
      "(SELECT string_agg(pg_get_triggerdef(g.oid), ', ' ORDER BY g.tgname) FROM pg_trigger g "
      "  WHERE g.tgrelid = c.oid AND NOT g.tgisinternal), "
      "(SELECT string_agg(concat_ws(' ', y.polname, y.polcmd, y.polpermissive, "
      "  pg_get_expr(y.polqual, y.polrelid), pg_get_expr(y.polwithcheck, y.polrelid)), ', ' "
      "  ORDER BY y.polname) FROM pg_policy y WHERE y.polrelid = c.oid), "
      "pg_get_partkeydef(c.oid), pg_get_expr(c.relpartbound, c.oid), "
      "(SELECT string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno) FROM "
      "  pg_inherits h WHERE h.inhrelid = c.oid))), "
      "CASE WHEN c.relkind = 'p' OR c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits h "
      "  WHERE h.inhrelid = c.oid OR h.inhparent = c.oid) THEN 1 ELSE 0 END + CASE WHEN " +
      has_dependents + " THEN 2 ELSE 0 END, '', " + std::string(kTableToken) +
      " FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace WHERE c.relkind IN ('r', 'p') AND " +
      user + NotMember("pg_class", "c.oid") +
      // Views and materialized views.
      " UNION ALL SELECT 6, n.nspname, c.relname, md5(c.relkind::text || pg_get_viewdef(c.oid)), "
      "CASE WHEN c.relkind = 'm' THEN 16 ELSE 0 END + CASE WHEN " +
      has_views +
      " THEN 2 ELSE 0 END, '', ''::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace WHERE c.relkind IN ('v', 'm') AND " +
      user + NotMember("pg_class", "c.oid") + " ORDER BY 1, 2, 3";
}

}  // namespace

const char* ObjectKindName(ObjectKind k) {
  switch (k) {
    case ObjectKind::kSchema:
      return "schema";
    case ObjectKind::kExtension:
      return "extension";
    case ObjectKind::kType:
      return "type";
    case ObjectKind::kFunction:
      return "function";
    case ObjectKind::kSequence:
      return "sequence";
    case ObjectKind::kTable:
      return "table";
    case ObjectKind::kView:
      return "view";
  }
  return "object";
}

Result<std::vector<SchemaObject>> ReadSchemaObjects(PgConn& c, const DbScope& scope) {
  return WithCatalogSearchPath(c, [&]() -> Result<std::vector<SchemaObject>> {
    HASYNC_ASSIGN_OR_RETURN(PgResult r, c.Exec(ObjectsQuery()));
    std::vector<SchemaObject> out;
    std::map<std::pair<std::string, std::string>, size_t> enums;
    for (int i = 0; i < r.rows(); ++i) {
      SchemaObject o{.kind = static_cast<ObjectKind>(std::stoi(r.Get(i, 0))),
                     .schema = r.Get(i, 1),
                     .name = r.Get(i, 2),
                     .digest = r.Get(i, 3),
                     .flags = static_cast<uint8_t>(std::stoi(r.Get(i, 4))),
                     .owner = r.Get(i, 5),
                     .labels = {},
                     .token = r.Get(i, 6)};
      if (!SchemaInScope(scope, o.schema)) continue;
      if (o.flags & kObjectEnum) enums[{o.schema, o.name}] = out.size();
      out.push_back(std::move(o));
    }
    if (enums.empty()) return out;
    HASYNC_ASSIGN_OR_RETURN(
        PgResult l, c.Exec("SELECT n.nspname, t.typname, l.enumlabel FROM pg_enum l JOIN pg_type "
                           "t ON t.oid = l.enumtypid JOIN pg_namespace n ON n.oid = "
                           "t.typnamespace ORDER BY 1, 2, l.enumsortorder"));
    for (int i = 0; i < l.rows(); ++i) {
      auto it = enums.find({l.Get(i, 0), l.Get(i, 1)});
      if (it != enums.end()) out[it->second].labels.push_back(l.Get(i, 2));
    }
    return out;
  });
}

Result<std::vector<std::string>> FunctionDefinitions(
    PgConn& c, const std::vector<std::pair<std::string, std::string>>& functions) {
  return WithCatalogSearchPath(c, [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const auto& [schema, name] : functions) {
      HASYNC_ASSIGN_OR_RETURN(
          PgResult r,
          c.ExecParams("SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON "
                       "n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname || '(' || "
                       "pg_get_function_identity_arguments(p.oid) || ')' = $2 AND p.prokind IN "
                       "('f', 'p')",
                       {schema, name}));
      if (r.rows() != 1) {
        return Status(Code::kDatabase,
                      "function " + schema + "." + name + " is not on the Primary");
      }
      out.push_back(r.Get(0, 0));
    }
    return out;
  });
}

}  // namespace hasync::snapshot
