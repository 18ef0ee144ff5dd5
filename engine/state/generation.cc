// Generation lineages: comparison, the split-brain verdict, and the node state's JSON form.
#include "engine/state/generation.h"

#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

namespace hasync::engine {
namespace {

bool Contains(const Lineage& l, uint64_t id) {
  for (const auto& g : l) {
    if (g.id == id) return true;
  }
  return false;
}

std::string GmtMinute(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M GMT", &tm);
  return buf;
}

// The newest generation both lineages share, or null.
const Generation* CommonAncestor(const Lineage& a, const Lineage& b) {
  for (auto it = a.rbegin(); it != a.rend(); ++it) {
    if (Contains(b, it->id)) return &*it;
  }
  return nullptr;
}

}  // namespace

Lineage StartGeneration(const Lineage& base, const std::string& node, int64_t now_ms) {
  static std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(now_ms));
  Lineage l = base;
  Generation g{.id = rng() | 1,  // never 0
               .number = (l.empty() ? 0 : l.back().number) + 1,
               .node = node,
               .at_ms = now_ms};
  l.push_back(std::move(g));
  if (l.size() > kMaxLineage) l.erase(l.begin(), l.end() - kMaxLineage);
  return l;
}

std::string DescribeGeneration(const Lineage& l) {
  if (l.empty()) return "none";
  const Generation& g = l.back();
  return std::to_string(g.number) + " (" + g.node + ", " + GmtMinute(g.at_ms) + ")";
}

GenerationVerdict CompareGenerations(const Lineage& mine, const Lineage& source) {
  if (mine.empty()) return GenerationVerdict::kEmpty;
  if (!source.empty() && source.back().id == mine.back().id) return GenerationVerdict::kSame;
  if (Contains(source, mine.back().id)) return GenerationVerdict::kNewer;
  if (!source.empty() && Contains(mine, source.back().id)) return GenerationVerdict::kOlder;
  return GenerationVerdict::kDiverged;
}

Result<std::string> CheckGeneration(const Lineage& mine, const Lineage& source,
                                    const std::string& my_node, const std::string& source_node,
                                    bool force) {
  std::string why;
  switch (CompareGenerations(mine, source)) {
    case GenerationVerdict::kSame:
    case GenerationVerdict::kNewer:
    case GenerationVerdict::kEmpty:
      return std::string();
    case GenerationVerdict::kOlder:
      why = source_node + " holds generation " + DescribeGeneration(source) +
            ", older than this node's data, generation " + DescribeGeneration(mine) +
            ": syncing would overwrite newer data with older (what changed on " + mine.back().node +
            " since it became Primary would be lost)";
      break;
    case GenerationVerdict::kDiverged: {
      const Generation* common = CommonAncestor(mine, source);
      why = "split brain: this node's data (generation " + DescribeGeneration(mine) + ") and " +
            source_node + "'s (generation " + DescribeGeneration(source) + ") diverged" +
            (common ? " after generation " + std::to_string(common->number)
                    : std::string(" and share no generation")) +
            ": both were Primary; syncing would discard what changed on " + my_node +
            " since generation " + std::to_string(mine.back().number) + " began";
      break;
    }
  }
  if (force) return "--force: " + why;
  return Status(Code::kGeneration, why + ". Decide which node's data to keep; to keep " +
                                       source_node + "'s, sync again with --force");
}

std::string LineageToJson(const Lineage& l) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& g : l) {
    // The id as text: JSON readers that hold numbers as doubles would round a 64-bit id.
    a.push_back(
        {{"id", std::to_string(g.id)}, {"number", g.number}, {"node", g.node}, {"at_ms", g.at_ms}});
  }
  return a.dump();
}

Result<Lineage> LineageFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  Status bad(Code::kIo, "node state: the generation lineage is damaged: " + text.substr(0, 200));
  if (!j.is_array() || j.size() > kMaxLineage) return bad;
  Lineage l;
  for (const auto& e : j) {
    if (!e.is_object() || !e.contains("id") || !e["id"].is_string() || !e.contains("number") ||
        !e["number"].is_number_unsigned() || !e.contains("node") || !e["node"].is_string() ||
        !e.contains("at_ms") || !e["at_ms"].is_number_integer()) {
      return bad;
    }
    Generation g;
    try {
      g.id = std::stoull(e["id"].get<std::string>());
    } catch (...) {
      return bad;
    }
    g.number = e["number"].get<uint64_t>();
    g.node = e["node"].get<std::string>();
    g.at_ms = e["at_ms"].get<int64_t>();
    l.push_back(std::move(g));
  }
  return l;
}

}  // namespace hasync::engine
