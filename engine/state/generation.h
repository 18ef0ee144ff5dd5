// Generations (DESIGN.md invariant 8): every promotion starts a new generation, and a node's
// lineage is the chain of generations its data descends from, newest last. A sync is allowed
// only when the Secondary's data is an ancestor of (or equal to) the source's: otherwise the
// source is older, or both were Primary (split brain), and syncing would silently throw away
// newer writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hasync::engine {

struct Generation {
  uint64_t id = 0;      // random, unique: tells two promotions to the same number apart
  uint64_t number = 0;  // 1, 2, ...: what operators see
  std::string node;     // the node that started it (was promoted, or was set up as Primary)
  int64_t at_ms = 0;    // when
  bool operator==(const Generation&) const = default;
};

// Newest last; at most kMaxLineage entries (the oldest are dropped).
using Lineage = std::vector<Generation>;
constexpr size_t kMaxLineage = 64;

// A new generation on top of `base`, started by `node` now.
Lineage StartGeneration(const Lineage& base, const std::string& node, int64_t now_ms);

// "3 (mdm-b, 2026-11-28 14:03 GMT)"; "none" for an empty lineage.
std::string DescribeGeneration(const Lineage& l);

enum class GenerationVerdict {
  kSame,      // the same generation: a normal sync
  kNewer,     // the source was promoted from this node's data: a normal sync, adopt its lineage
  kEmpty,     // this node holds no generation yet (never synced, never Primary)
  kOlder,     // the source is an ancestor of this node's data: it would overwrite newer data
  kDiverged,  // both were promoted from a common ancestor (or share nothing): split brain
};
GenerationVerdict CompareGenerations(const Lineage& mine, const Lineage& source);

// For kSame/kNewer/kEmpty: an empty string. Otherwise kGeneration naming both generations, what
// syncing would lose and how to proceed (`--force`); with force, that text as a warning.
Result<std::string> CheckGeneration(const Lineage& mine, const Lineage& source,
                                    const std::string& my_node, const std::string& source_node,
                                    bool force);

// The lineage as JSON text for the node state, and back (strict).
std::string LineageToJson(const Lineage& l);
Result<Lineage> LineageFromJson(const std::string& text);

}  // namespace hasync::engine
