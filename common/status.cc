// Status helpers and the errno adapter.
#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace hasync {
namespace {

// "kNoSpace" -> "no_space".
std::string SnakeName(const char* name) {
  std::string buf;
  for (const char* p = name + 1; *p; ++p) {
    if (*p >= 'A' && *p <= 'Z') {
      if (!buf.empty()) buf.push_back('_');
      buf.push_back(static_cast<char>(*p - 'A' + 'a'));
    } else {
      buf.push_back(*p);
    }
  }
  return buf;
}

}  // namespace

std::string CodeName(Code code) {
  switch (code) {
#define HASYNC_X(name, value, text) \
  case Code::name:                  \
    return SnakeName(#name);
    HASYNC_ERROR_CODES(HASYNC_X)
#undef HASYNC_X
  }
  return "Unknown";
}

std::string_view CodeText(Code code) {
  switch (code) {
#define HASYNC_X(name, value, text) \
  case Code::name:                  \
    return text;
    HASYNC_ERROR_CODES(HASYNC_X)
#undef HASYNC_X
  }
  return "unknown error";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeText(code_)) + ": " + message_;
}

Status Status::Context(std::string_view what) const {
  if (ok()) return *this;
  return Status(code_, std::string(what) + ": " + message_);
}

Status ErrnoStatus(std::string_view what, int err) {
  Code code = Code::kIo;
  if (err == ENOSPC || err == EDQUOT) code = Code::kNoSpace;
  if (err == ENOENT) code = Code::kNotFound;
  return Status(code, std::string(what) + ": " + std::strerror(err));
}

}  // namespace hasync
