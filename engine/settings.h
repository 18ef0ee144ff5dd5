// Settings: the node's TOML file (DESIGN.md, "Contracts"), validated on load. Every error names
// the key and what it accepts. Sections this build does not use yet ([ha], [secondary],
// [failover], [notify], [database], [ssh], [status]) are accepted as the design reserves them.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "transport/frame.h"

namespace hasync::engine {

struct FileRootSettings {
  std::string name;  // pairs this root with the peer's root of the same name
  std::string root;  // absolute path
  std::vector<std::string> include;
  std::vector<std::string> exclude;
};

struct Settings {
  std::string path;  // the file these came from
  std::string node_name;
  std::string state_dir;
  std::string software_version;
  std::vector<FileRootSettings> roots;
  transport::CompressionOptions compression;
  unsigned threads = 0;  // 0: one per core
};

// Loads and validates a settings file. kConfig on any problem, kNotFound when it is missing.
Result<Settings> LoadSettings(const std::string& path);
Result<Settings> ParseSettings(const std::string& text, const std::string& source_name);

// --config, else $HASYNC_CONFIG, else /etc/hasync/hasync.toml.
std::string DefaultConfigPath();

}  // namespace hasync::engine
