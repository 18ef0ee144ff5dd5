// The schema script check. The split follows PostgreSQL's lexer closely enough for pg_dump's
// output, and a split that differs from the server's cannot hide a statement: FullLoad runs each
// statement alone through the extended protocol, which refuses a string holding two commands
// ("cannot insert multiple commands into a prepared statement"), so what runs is what was
// checked. Literal and body contents are never inspected: whatever a function body does runs
// later with the apply role's rights only, which PostgreSQL bounds.
#include "engine/db/schema_script.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include "snapshot/db_catalog.h"
#include "snapshot/publications.h"

namespace hasync::engine {
namespace {

enum class Tok { kWord, kQuoted, kString, kSymbol };

struct Token {
  Tok kind;
  std::string text;  // kWord: upper-cased; kQuoted: the identifier; kString: the raw contents
};

struct RawStatement {
  std::string text;
  std::vector<Token> tokens;
};

bool IsIdentStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool IsIdentChar(unsigned char c) { return IsIdentStart(c) || std::isdigit(c) || c == '$'; }
bool IsTagChar(unsigned char c) { return IsIdentStart(c) || std::isdigit(c); }

std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

Status Refuse(size_t n, const std::string& what) {
  return Status(Code::kProtocol,
                "the Primary's schema script was refused before any of it ran: "
                "statement " +
                    std::to_string(n) + " (" + what +
                    ") is not something pg_dump writes for a schema");
}

// One statement at a time from the script.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // The next statement (possibly empty of tokens), nullopt at the end.
  Result<std::optional<RawStatement>> Next() {
    if (i_ >= s_.size()) return std::optional<RawStatement>();
    const size_t start = i_;
    RawStatement st;
    int atomic = 0;  // BEGIN ATOMIC ... END nesting (CASE ... END inside counts too)
    while (i_ < s_.size()) {
      const unsigned char c = s_[i_];
      if (c == ';' && atomic == 0) {
        st.text = std::string(s_.substr(start, i_ - start));
        ++i_;
        return std::optional<RawStatement>(std::move(st));
      }
      HASYNC_ASSIGN_OR_RETURN(std::optional<Token> t, Lex());
      if (!t) continue;
      if (t->kind == Tok::kWord && IsRoutine(st.tokens)) atomic = Depth(st.tokens, *t, atomic);
      st.tokens.push_back(std::move(*t));
    }
    st.text = std::string(s_.substr(start));
    return std::optional<RawStatement>(std::move(st));
  }

 private:
  // CREATE [OR REPLACE] FUNCTION|PROCEDURE: the only statements with a body of statements.
  static bool IsRoutine(const std::vector<Token>& t) {
    auto word = [&](size_t k, const char* w) {
      return k < t.size() && t[k].kind == Tok::kWord && t[k].text == w;
    };
    size_t k = word(1, "OR") && word(2, "REPLACE") ? 3 : 1;
    return word(0, "CREATE") && (word(k, "FUNCTION") || word(k, "PROCEDURE"));
  }

  // psql's rule, narrowed: BEGIN counts only right before ATOMIC, and a keyword after '.' or AS
  // is a name. A miscount merges or splits statements, which the server then refuses.
  int Depth(const std::vector<Token>& prev, const Token& t, int depth) const {
    if (!prev.empty() && ((prev.back().kind == Tok::kSymbol && prev.back().text == ".") ||
                          (prev.back().kind == Tok::kWord && prev.back().text == "AS"))) {
      return depth;
    }
    if (t.text == "ATOMIC" && !prev.empty() && prev.back().kind == Tok::kWord &&
        prev.back().text == "BEGIN") {
      return depth + 1;
    }
    if (t.text == "CASE" && depth > 0) return depth + 1;
    if (t.text == "END" && depth > 0) return depth - 1;
    return depth;
  }

  Result<std::optional<Token>> Lex() {
    const unsigned char c = s_[i_];
    if (std::isspace(c)) {
      ++i_;
      return std::optional<Token>();
    }
    if (c == '-' && Peek(1) == '-') {
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      return std::optional<Token>();
    }
    if (c == '/' && Peek(1) == '*') {
      HASYNC_RETURN_IF_ERROR(SkipComment());
      return std::optional<Token>();
    }
    if (c == '\'') return Quoted('\'', Tok::kString, /*escapes=*/false);
    if (c == '"') return Quoted('"', Tok::kQuoted, false);
    if (c == '$') return Dollar();
    if (c == '\\') return Status(Code::kProtocol, "a backslash outside a literal (psql command)");
    if (IsIdentStart(c)) return Word();
    if (std::isdigit(c)) {
      size_t b = i_;
      while (i_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == '_')) {
        ++i_;
      }
      return std::optional<Token>(Token{Tok::kSymbol, std::string(s_.substr(b, i_ - b))});
    }
    ++i_;
    return std::optional<Token>(Token{Tok::kSymbol, std::string(1, static_cast<char>(c))});
  }

  char Peek(size_t k) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  Status SkipComment() {
    int depth = 0;
    while (i_ < s_.size()) {
      if (s_[i_] == '/' && Peek(1) == '*') {
        ++depth;
        i_ += 2;
      } else if (s_[i_] == '*' && Peek(1) == '/') {
        i_ += 2;
        if (--depth == 0) return Status::Ok();
      } else {
        ++i_;
      }
    }
    return Status(Code::kProtocol, "an unterminated comment");
  }

  // A literal or quoted identifier from its opening quote: a doubled quote is one; in an E''
  // string a backslash escapes the next character.
  Result<std::optional<Token>> Quoted(char q, Tok kind, bool escapes) {
    std::string text;
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (escapes && c == '\\' && i_ < s_.size()) {
        text += c;
        text += s_[i_++];
      } else if (c == q && Peek(0) == q) {
        text += c;
        ++i_;
      } else if (c == q) {
        return std::optional<Token>(Token{kind, std::move(text)});
      } else {
        text += c;
      }
    }
    return Status(Code::kProtocol, "an unterminated quoted string or identifier");
  }

  // $tag$ ... $tag$ (tag possibly empty), or a parameter $1.
  Result<std::optional<Token>> Dollar() {
    size_t j = i_ + 1;
    if (j < s_.size() && IsIdentStart(s_[j])) {
      while (j < s_.size() && IsTagChar(s_[j])) ++j;
    }
    if (j >= s_.size() || s_[j] != '$') {
      ++i_;  // a parameter or a stray '$': the server decides
      return std::optional<Token>(Token{Tok::kSymbol, "$"});
    }
    std::string_view tag = s_.substr(i_, j + 1 - i_);
    size_t end = s_.find(tag, j + 1);
    if (end == std::string_view::npos) return Status(Code::kProtocol, "an unterminated $ quote");
    std::string body(s_.substr(j + 1, end - j - 1));
    i_ = end + tag.size();
    return std::optional<Token>(Token{Tok::kString, std::move(body)});
  }

  // A keyword or name, or the prefix of E'', B'', X'', N'' and U&'' / U&"" literals.
  Result<std::optional<Token>> Word() {
    size_t b = i_;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    std::string w = Upper(s_.substr(b, i_ - b));
    if (Peek(0) == '\'' && (w == "E" || w == "B" || w == "X" || w == "N")) {
      return Quoted('\'', Tok::kString, w == "E");
    }
    if (w == "U" && Peek(0) == '&' && (Peek(1) == '\'' || Peek(1) == '"')) {
      ++i_;
      return Peek(0) == '\'' ? Quoted('\'', Tok::kString, false) : Quoted('"', Tok::kQuoted, false);
    }
    return std::optional<Token>(Token{Tok::kWord, std::move(w)});
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool IsWord(const std::vector<Token>& t, size_t k, std::string_view w) {
  return k < t.size() && t[k].kind == Tok::kWord && t[k].text == w;
}

std::string FirstWords(const std::vector<Token>& t, size_t n) {
  std::string out;
  for (size_t k = 0; k < t.size() && k < n; ++k) {
    if (t[k].kind != Tok::kWord) break;
    out += (out.empty() ? "" : " ") + t[k].text;
  }
  return out.empty() ? "no keyword" : out;
}

// The settings pg_dump's preamble and sections set.
constexpr std::array<std::string_view, 12> kSettings = {"STATEMENT_TIMEOUT",
                                                        "LOCK_TIMEOUT",
                                                        "IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
                                                        "CLIENT_ENCODING",
                                                        "CHECK_FUNCTION_BODIES",
                                                        "XMLOPTION",
                                                        "CLIENT_MIN_MESSAGES",
                                                        "ROW_SECURITY",
                                                        "DEFAULT_TABLESPACE",
                                                        "DEFAULT_TABLE_ACCESS_METHOD",
                                                        "DEFAULT_WITH_OIDS",
                                                        "STANDARD_CONFORMING_STRINGS"};

// Client-only encodings whose multibyte characters may hold a backslash byte: the split would
// no longer match the server's.
constexpr std::array<std::string_view, 6> kUnsafeEncodings = {"SJIS", "SHIFT_JIS_2004", "BIG5",
                                                              "GBK",  "GB18030",        "JOHAB"};

std::string ValueText(const Token& t) { return t.kind == Tok::kWord ? t.text : Upper(t.text); }

Status CheckSet(size_t n, const std::vector<Token>& t) {
  size_t k = IsWord(t, 1, "SESSION") || IsWord(t, 1, "LOCAL") ? 2 : 1;
  if (k >= t.size() || t[k].kind != Tok::kWord ||
      std::find(kSettings.begin(), kSettings.end(), t[k].text) == kSettings.end()) {
    return Refuse(n, FirstWords(t, 3));
  }
  size_t v = k + 1 < t.size() && (t[k + 1].text == "=" || t[k + 1].text == "TO") ? k + 2 : k + 1;
  if (v >= t.size()) return Refuse(n, FirstWords(t, 3));
  std::string value = ValueText(t[v]);
  if (t[k].text == "STANDARD_CONFORMING_STRINGS" && value != "ON") {
    return Refuse(n, "SET standard_conforming_strings other than on");
  }
  if (t[k].text == "CLIENT_ENCODING" && std::find(kUnsafeEncodings.begin(), kUnsafeEncodings.end(),
                                                  value) != kUnsafeEncodings.end()) {
    return Refuse(n, "SET client_encoding = " + value);
  }
  return Status::Ok();
}

// The object kinds a replicated schema never creates or alters.
bool OutOfScopeObject(const std::vector<Token>& t, size_t k) {
  static constexpr std::array<std::string_view, 13> kRefused = {
      "ROLE",        "USER",   "GROUP",    "DATABASE", "SYSTEM",    "TABLESPACE", "SUBSCRIPTION",
      "PUBLICATION", "SERVER", "LANGUAGE", "EVENT",    "EXTENSION", "TRUSTED"};
  if (k >= t.size() || t[k].kind != Tok::kWord) return true;
  if (IsWord(t, k, "FOREIGN") && IsWord(t, k + 1, "DATA")) return true;
  if (IsWord(t, k, "PROCEDURAL")) return true;
  return std::find(kRefused.begin(), kRefused.end(), t[k].text) != kRefused.end();
}

// Object name after a keyword sequence: a word (folded to lower case) or a quoted identifier.
std::string NameAt(const std::vector<Token>& t, size_t k) {
  if (k >= t.size()) return "";
  if (t[k].kind == Tok::kQuoted) return t[k].text;
  if (t[k].kind != Tok::kWord) return "";
  std::string s = t[k].text;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status CheckCreate(size_t n, const std::vector<Token>& t, ScriptStatement& out) {
  size_t k = 1;
  if (IsWord(t, k, "OR") && IsWord(t, k + 1, "REPLACE")) k += 2;
  if (IsWord(t, k, "EXTENSION")) {
    k += IsWord(t, k + 1, "IF") && IsWord(t, k + 2, "NOT") && IsWord(t, k + 3, "EXISTS") ? 4 : 1;
    out.extension = NameAt(t, k);
    if (out.extension.empty()) return Refuse(n, "CREATE EXTENSION without a name");
    return Status::Ok();
  }
  if (OutOfScopeObject(t, k)) return Refuse(n, FirstWords(t, k + 2));
  return Status::Ok();
}

Status CheckStatement(size_t n, const RawStatement& raw, ScriptStatement& out) {
  const auto& t = raw.tokens;
  for (size_t k = 0; k < t.size(); ++k) {
    if ((t[k].kind == Tok::kWord || t[k].kind == Tok::kQuoted) &&
        NameAt(t, k) == snapshot::kStateSchema) {
      return Refuse(n, "names hasync's own schema");
    }
  }
  if (IsWord(t, 0, "SET")) return CheckSet(n, t);
  if (IsWord(t, 0, "SELECT")) {
    // pg_dump's one SELECT: SELECT pg_catalog.set_config('search_path', '', false)
    bool ok = t.size() == 11 && IsWord(t, 1, "PG_CATALOG") && t[2].text == "." &&
              IsWord(t, 3, "SET_CONFIG") && t[4].text == "(" && t[5].kind == Tok::kString &&
              t[5].text == "search_path" && t[6].text == "," && t[7].kind == Tok::kString &&
              t[7].text.empty() && t[8].text == "," && IsWord(t, 9, "FALSE") && t[10].text == ")";
    return ok ? Status::Ok() : Refuse(n, "a SELECT other than set_config of search_path");
  }
  if (IsWord(t, 0, "CREATE")) return CheckCreate(n, t, out);
  if (IsWord(t, 0, "ALTER")) {
    return OutOfScopeObject(t, 1) ? Refuse(n, FirstWords(t, 3)) : Status::Ok();
  }
  if (IsWord(t, 0, "COMMENT")) {
    if (IsWord(t, 1, "ON") && IsWord(t, 2, "EXTENSION")) out.comments_on = NameAt(t, 3);
    return Status::Ok();
  }
  if (IsWord(t, 0, "SECURITY") && IsWord(t, 1, "LABEL")) return Status::Ok();
  if (IsWord(t, 0, "REFRESH")) {
    // pg_dump's post-data section with data: REFRESH MATERIALIZED VIEW <name>, nothing more
    // (never CONCURRENTLY, never WITH NO DATA). The refresh runs the view's query with the
    // apply role's rights, as its index expressions and defaults already do.
    bool ok = IsWord(t, 1, "MATERIALIZED") && IsWord(t, 2, "VIEW") && t.size() > 3 &&
              !IsWord(t, 3, "CONCURRENTLY") && !IsWord(t, t.size() - 1, "DATA");
    return ok ? Status::Ok() : Refuse(n, "a REFRESH other than REFRESH MATERIALIZED VIEW <name>");
  }
  if (IsWord(t, 0, "GRANT") || IsWord(t, 0, "REVOKE")) {
    // Privileges on objects only: never role membership, nor the database, tablespaces or
    // server parameters.
    auto on = std::find_if(t.begin(), t.end(),
                           [](const Token& x) { return x.kind == Tok::kWord && x.text == "ON"; });
    size_t k = static_cast<size_t>(on - t.begin()) + 1;
    if (on == t.end() || IsWord(t, k, "DATABASE") || IsWord(t, k, "TABLESPACE") ||
        IsWord(t, k, "PARAMETER") || IsWord(t, k, "FOREIGN") || IsWord(t, k, "LANGUAGE")) {
      return Refuse(n, FirstWords(t, 2) + " outside the replicated objects");
    }
    return Status::Ok();
  }
  return Refuse(n, FirstWords(t, 2));
}

}  // namespace

Result<std::vector<ScriptStatement>> CheckSchemaScript(std::string_view script) {
  if (script.find('\0') != std::string_view::npos) {
    return Status(Code::kProtocol, "the Primary's schema script holds a NUL byte");
  }
  Lexer lexer(script);
  std::vector<ScriptStatement> out;
  for (size_t n = 1;; ++n) {
    auto raw = lexer.Next();
    if (!raw.ok()) {
      return Status(Code::kProtocol,
                    "the Primary's schema script was refused before any of it "
                    "ran: statement " +
                        std::to_string(n) + " has " + raw.status().message());
    }
    if (!raw->has_value()) return out;
    if ((*raw)->tokens.empty()) {
      --n;  // only blanks or comments
      continue;
    }
    const auto& t = (*raw)->tokens;
    if (IsWord(t, 0, "CREATE") && IsWord(t, 1, "EVENT") && IsWord(t, 2, "TRIGGER") &&
        NameAt(t, 3) == snapshot::kEventTrigger) {
      continue;  // the Primary's own (publications.h): the Secondary's is made when it serves
    }
    ScriptStatement st{.text = std::move((*raw)->text)};
    HASYNC_RETURN_IF_ERROR(CheckStatement(n, **raw, st));
    out.push_back(std::move(st));
  }
}

std::string JoinStatements(const std::vector<ScriptStatement>& statements) {
  std::string out;
  for (const auto& s : statements) out += s.text + ";\n";
  return out;
}

}  // namespace hasync::engine
