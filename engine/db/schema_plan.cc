// The rules in the order the header gives them. Objects are matched by kind and qualified name;
// equal digests are equal objects whatever else differs.
#include "engine/db/schema_plan.h"

#include <map>
#include <set>
#include <tuple>

namespace hasync::engine {
namespace {

using snapshot::ObjectKind;
using snapshot::SchemaObject;

using Key = std::tuple<ObjectKind, std::string, std::string>;

}  // namespace

const char* SchemaActionWord(SchemaAction a) {
  switch (a) {
    case SchemaAction::kAdded:
      return "added";
    case SchemaAction::kDropped:
      return "dropped";
    case SchemaAction::kAltered:
      return "altered";
    case SchemaAction::kRecreated:
      return "re-created";
  }
  return "changed";
}

namespace {

std::string Named(const SchemaObject& o) {
  return std::string(snapshot::ObjectKindName(o.kind)) + " " + o.Qualified();
}

// Why one difference needs a full copy, or "" when a change carries it.
std::string Refusal(const SchemaObject* p, const SchemaObject* s, SchemaAction action) {
  const SchemaObject& o = p != nullptr ? *p : *s;
  const uint8_t flags = (p ? p->flags : 0) | (s ? s->flags : 0);
  const std::string what = Named(o) + " " + SchemaActionWord(action);
  switch (o.kind) {
    case ObjectKind::kSchema:
    case ObjectKind::kSequence:  // an altered one: decided with the tables (Plan)
      return "";
    case ObjectKind::kExtension:
      return what + ": extensions are created on each node, not by a sync";
    case ObjectKind::kType:
      if ((p && !(p->flags & snapshot::kObjectEnum)) ||
          (s && !(s->flags & snapshot::kObjectEnum))) {
        return what + ": of types, only enums are carried by a sync";
      }
      if (action == SchemaAction::kAltered && !LabelsToAdd(s->labels, p->labels)) {
        return what + ": its labels were renamed, removed or reordered";
      }
      return "";
    case ObjectKind::kFunction:
      if (!(flags & snapshot::kObjectDefinable) ||
          (p && !(p->flags & snapshot::kObjectDefinable)) ||
          (s && !(s->flags & snapshot::kObjectDefinable))) {
        return what + ": aggregates and window functions are not carried by a sync";
      }
      return "";
    case ObjectKind::kTable:
      if (flags & snapshot::kObjectInherits) {
        return what +
               ": it is partitioned, a partition or inherits, which a sync does not carry "
               "table by table";
      }
      if (action != SchemaAction::kAdded && (flags & snapshot::kObjectHasViews)) {
        if (p == nullptr || !(p->flags & snapshot::kObjectHasViews)) {
          return what +
                 ": objects only the Secondary has depend on it (made there behind "
                 "hasync's back), which re-creating it would drop";
        }
        return what +
               ": other objects depend on it (views, functions, columns of its row type or "
               "policies), which re-creating it would drop";
      }
      return "";
    case ObjectKind::kView:
      if (flags & snapshot::kObjectMaterialized) {
        return what + ": materialized views are not carried by a sync";
      }
      if (action != SchemaAction::kAdded && (flags & snapshot::kObjectHasViews)) {
        return what + ": other views read it";
      }
      return "";
  }
  return what;
}

}  // namespace

SchemaPlan PlanSchemaChanges(const std::vector<SchemaObject>& primary,
                             const std::vector<SchemaObject>& secondary,
                             const std::vector<DbTableDesc>& remembered) {
  std::map<std::pair<std::string, std::string>, std::string> tokens;
  for (const auto& t : remembered) tokens[{t.schema, t.name}] = t.token;
  std::map<Key, std::pair<const SchemaObject*, const SchemaObject*>> both;
  for (const auto& o : primary) both[{o.kind, o.schema, o.name}].first = &o;
  for (const auto& o : secondary) both[{o.kind, o.schema, o.name}].second = &o;
  SchemaPlan plan;
  std::set<std::string> tables_gone;  // dropped or re-created on the Secondary
  std::vector<const SchemaObject*> altered_sequences;
  for (const auto& [key, pair] : both) {
    const auto [p, s] = pair;
    SchemaAction action = p == nullptr   ? SchemaAction::kDropped
                          : s == nullptr ? SchemaAction::kAdded
                                         : SchemaAction::kAltered;
    if (action == SchemaAction::kAltered && p->digest == s->digest) {
      auto token = tokens.find({p->schema, p->name});
      const bool recreated = p->kind == ObjectKind::kTable && token != tokens.end() &&
                             !token->second.empty() && !p->token.empty() &&
                             token->second != p->token;
      if (!recreated) continue;
      action = SchemaAction::kRecreated;
    }
    std::string refusal = Refusal(p, s, action);
    if (!refusal.empty()) {
      if (plan.full_copy.empty()) plan.full_copy = refusal;
      continue;
    }
    const SchemaObject& o = p != nullptr ? *p : *s;
    if (o.kind == ObjectKind::kTable) tables_gone.insert(o.Qualified());
    if (o.kind == ObjectKind::kSequence && action == SchemaAction::kAltered) {
      altered_sequences.push_back(s);
    }
    plan.changes.push_back(SchemaChange{.kind = o.kind,
                                        .action = action,
                                        .schema = o.schema,
                                        .name = o.name,
                                        .digest = p != nullptr ? p->digest : "",
                                        .labels = p != nullptr ? p->labels : s->labels});
  }
  // An altered sequence is carried only when it goes with its table: re-creating that table on
  // the Secondary drops it, and the Primary's definition creates it again.
  for (const SchemaObject* s : altered_sequences) {
    if (s->owner.empty() || !tables_gone.count(s->owner)) {
      if (plan.full_copy.empty()) {
        plan.full_copy = Named(*s) + " altered: a sync does not change a sequence's parameters";
      }
    }
  }
  if (!plan.full_copy.empty()) plan.changes.clear();
  return plan;
}

std::string DescribeChange(const SchemaChange& c, bool rows_copied) {
  std::string name = c.name.empty() ? c.schema : c.schema + "." + c.name;
  std::string out =
      std::string(snapshot::ObjectKindName(c.kind)) + " " + name + " " + SchemaActionWord(c.action);
  if (c.kind == ObjectKind::kTable && c.action != SchemaAction::kDropped) {
    out += rows_copied ? ", copied whole" : " (its rows are not replicated)";
  }
  if (c.kind == ObjectKind::kType && c.action == SchemaAction::kAltered) out += " (labels added)";
  return out;
}

std::vector<std::string> TablesToCopy(const std::vector<SchemaChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (c.kind == ObjectKind::kTable && c.action != SchemaAction::kDropped) {
      out.push_back(c.schema + "." + c.name);
    }
  }
  return out;
}

std::vector<std::string> TablesLeftOutOfTheStream(const std::vector<SchemaChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (c.kind == ObjectKind::kTable) out.push_back(c.schema + "." + c.name);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ObjectsToDump(
    const std::vector<SchemaChange>& changes) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& c : changes) {
    const bool relation = c.kind == ObjectKind::kTable || c.kind == ObjectKind::kSequence ||
                          c.kind == ObjectKind::kView;
    if (relation && c.action != SchemaAction::kDropped) out.emplace_back(c.schema, c.name);
  }
  return out;
}

std::optional<std::vector<LabelToAdd>> LabelsToAdd(const std::vector<std::string>& have,
                                                   const std::vector<std::string>& want) {
  std::vector<LabelToAdd> out;
  size_t j = 0;
  std::string prev;
  for (const auto& w : want) {
    if (j < have.size() && have[j] == w) {
      prev = w;
      ++j;
      continue;
    }
    LabelToAdd add{.label = w, .after = prev, .before = ""};
    if (prev.empty() && j < have.size()) add.before = have[j];
    out.push_back(std::move(add));
    prev = w;
  }
  if (j != have.size()) return std::nullopt;
  return out;
}

}  // namespace hasync::engine
