// Status and Result<T>: errors are values. One closed table of error codes, which are also the
// CLI's exit codes, so a script can tell a version mismatch from a full disk without parsing text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hasync {

// The closed table: X(Name, exit code, short description). Exit codes never change meaning;
// new codes are appended.
#define HASYNC_ERROR_CODES(X)                                            \
  X(kOk, 0, "ok")                                                        \
  X(kInternal, 1, "internal error")                                      \
  X(kUsage, 2, "bad command-line arguments")                             \
  X(kConfig, 3, "bad settings")                                          \
  X(kIo, 4, "local I/O error")                                           \
  X(kNoSpace, 5, "no space left on device")                              \
  X(kProtocol, 6, "protocol violation by the peer")                      \
  X(kChecksum, 7, "checksum mismatch")                                   \
  X(kPeer, 8, "peer failed or channel broken")                           \
  X(kVersion, 9, "version mismatch")                                     \
  X(kUnsafePath, 10, "path escapes its root")                            \
  X(kBusy, 11, "another sync is running")                                \
  X(kNotFound, 12, "not found")                                          \
  X(kAborted, 13, "interrupted")                                         \
  X(kClockSkew, 14, "clock skew too large")                              \
  X(kAuth, 15, "the peer refused this node's key")                       \
  X(kHostKey, 16, "the peer's host key is not the pinned one")           \
  X(kUnreachable, 17, "the peer cannot be reached")                      \
  X(kDatabase, 18, "database error")                                     \
  X(kSchema, 19, "the two databases' schemas differ")                    \
  X(kNodeRole, 20, "this node's mode or status forbids it")              \
  X(kGeneration, 21, "the source is of an older or diverged generation") \
  X(kDiffers, 22, "the Secondary differs from the Primary")

enum class Code : int {
#define HASYNC_X(name, value, text) name = value,
  HASYNC_ERROR_CODES(HASYNC_X)
#undef HASYNC_X
};

// Stable lower-case name of a code ("no_space"), for --json output and logs.
std::string CodeName(Code code);
std::string_view CodeText(Code code);
inline int ExitCode(Code code) { return static_cast<int>(code); }

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "no space left on device: writing certs/a.pem: No space left on device".
  std::string ToString() const;
  // Prefixes context to the message, keeping the code: "staging certs/a.pem: ...".
  Status Context(std::string_view what) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Converts an errno value into a Status with the right code (ENOSPC/EDQUOT -> kNoSpace, ENOENT ->
// kNotFound, anything else -> kIo). The one adapter for errno.
Status ErrnoStatus(std::string_view what, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like absl::StatusOr.
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hasync

// Returns early with the Status of `expr` when it is not ok.
#define HASYNC_RETURN_IF_ERROR(expr) \
  do {                               \
    ::hasync::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#define HASYNC_CONCAT_INNER(a, b) a##b
#define HASYNC_CONCAT(a, b) HASYNC_CONCAT_INNER(a, b)
// HASYNC_ASSIGN_OR_RETURN(auto x, F()): declares x from a Result or returns its Status.
#define HASYNC_ASSIGN_OR_RETURN(decl, expr) \
  HASYNC_ASSIGN_OR_RETURN_IMPL(HASYNC_CONCAT(_res_, __LINE__), decl, expr)
#define HASYNC_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  decl = std::move(tmp).value()
