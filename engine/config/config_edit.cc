// `config set`: edits one key in place so the operator's comments and layout survive, validates
// the whole new file with the same parser as every command, and replaces it atomically.
#include "engine/config/config_edit.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <regex>
#include <sstream>
#include <vector>

namespace hasync::engine {
namespace {

std::string TomlValue(const std::string& v) {
  if (v == "true" || v == "false") return v;
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() < 16) {
    return v;
  }
  if (!v.empty() && v.front() == '[' && v.back() == ']') return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "  # hourly" from `run_every = "60m"  # hourly`: a '#' after the value, not inside a string.
std::string TrailingComment(const std::string& line) {
  size_t pos = line.find('=');
  if (pos == std::string::npos) return "";
  pos = line.find_first_not_of(" \t", pos + 1);
  if (pos == std::string::npos) return "";
  if (line[pos] == '"' || line[pos] == '\'') {
    char q = line[pos];
    for (++pos; pos < line.size() && line[pos] != q; ++pos) {
      if (line[pos] == '\\' && q == '"') ++pos;
    }
    ++pos;
  }
  size_t hash = line.find('#', std::min(pos, line.size()));
  if (hash == std::string::npos) return "";
  size_t from = line.find_last_not_of(" \t", hash - 1);
  return line.substr(from == std::string::npos ? hash : from + 1);
}

}  // namespace

Result<std::string> SetConfigValue(const std::string& text, const std::string& key,
                                   const std::string& value) {
  static const std::regex kKey("^([a-z_]+)\\.([a-z_]+)$");
  std::smatch m;
  if (!std::regex_match(key, m, kKey)) {
    return Status(Code::kUsage, "'" + key +
                                    "' is not a settings key: give section.key, for "
                                    "example secondary.run_every");
  }
  std::string section = m[1], name = m[2];
  if (section == "files") {
    return Status(Code::kUsage, "[[files]] blocks are edited in the settings file itself");
  }
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string line = name + " = " + TomlValue(value);
  int header = -1;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (t == "[" + section + "]") {
      header = static_cast<int>(i);
      continue;
    }
    if (header < 0) continue;
    if (!t.empty() && t[0] == '[') break;  // the next section: not there yet
    size_t eq = t.find('=');
    if (eq != std::string::npos && Trim(t.substr(0, eq)) == name) {
      lines[i] = line + TrailingComment(lines[i]);
      header = -2;
      break;
    }
  }
  if (header >= 0) {
    lines.insert(lines.begin() + header + 1, line);
  } else if (header == -1) {
    if (!lines.empty() && !Trim(lines.back()).empty()) lines.push_back("");
    lines.push_back("[" + section + "]");
    lines.push_back(line);
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".hasync-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("writing " + tmp, errno);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus("writing " + tmp, e);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("writing " + tmp, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("replacing " + path, e);
  }
  return Status::Ok();
}

// libpq's key=value syntax (conninfo_parse): a value is either quoted, up to the first quote not
// escaped by a backslash, or unquoted, up to white space, and a backslash escapes the next byte
// in both. The mask skips exactly what libpq would read as the value, so no part of a password
// with an escaped quote or space survives it. A URI's password (postgres://user:password@host)
// is masked up to the '@' (an '@' in a URI password is percent-encoded).
std::string MaskConninfo(const std::string& conninfo) {
  static const std::regex kPassword("password\\s*=\\s*");
  std::string out;
  size_t pos = 0;
  for (std::smatch m; std::regex_search(conninfo.begin() + static_cast<std::ptrdiff_t>(pos),
                                        conninfo.end(), m, kPassword);) {
    size_t start = pos + static_cast<size_t>(m.position(0) + m.length(0));
    out += conninfo.substr(pos, start - pos) + "***";
    size_t i = start;
    bool quoted = i < conninfo.size() && conninfo[i] == '\'';
    if (quoted) ++i;
    while (i < conninfo.size()) {
      char c = conninfo[i];
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (quoted ? c == '\'' : isspace(static_cast<unsigned char>(c)) != 0) break;
      ++i;
    }
    if (quoted && i < conninfo.size()) ++i;  // the closing quote
    pos = std::min(i, conninfo.size());
  }
  out += conninfo.substr(pos);
  static const std::regex kUri("(://[^:/@]*:)[^@]*@");
  return std::regex_replace(out, kUri, "$1***@");
}

}  // namespace hasync::engine
