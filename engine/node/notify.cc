// Email through libcurl's SMTP client (the one adapter for its errors), the event command, and
// the outbox pump.
#include "engine/node/notify.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <mutex>

#include "common/log.h"
#include "common/process.h"

namespace hasync::engine {
namespace {

struct Subject {
  const char* kind;
  const char* text;
  bool failure;  // sent when on_failure (else only when on_sync_completion, for completions)
};
constexpr Subject kSubjects[] = {
    {"sync-completed", "sync completed", false},
    {"sync-failed", "sync FAILED", true},
    {"promoted", "this server became Primary", true},
    {"failure-detected", "Primary failure detected", true},
    {"split-brain", "split brain detected", true},
    {"split-brain-forced", "sync forced over a newer generation", true},
    {"superseded", "superseded by another Primary", true},
    {"full-resync", "full database resync", true},
    {"test", "test email", false},
};

std::string IsoUtc(int64_t ms, const char* format) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// Header values never carry a line break (a message could otherwise inject headers).
std::string OneLine(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return s;
}

}  // namespace

// The user information ends at the URL's last '@'. Looking for it only before the first '/',
// '?' or '#' (where the authority ends when the URL is well formed) showed the rest of a
// password holding one of them: an operator writes such a password unencoded, and it is still a
// secret. A '@' later in a path or query makes the mask hide more than the user information,
// never less.
std::string MaskUrlPassword(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t at = url.rfind('@');
  if (at == std::string::npos || at < scheme + 3) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

namespace {

struct Upload {
  std::string data;
  size_t pos = 0;
};

size_t ReadUpload(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

bool EmailFor(const NotifySettings& n, const std::string& kind) {
  if (n.email.empty()) return false;
  for (const auto& s : kSubjects) {
    if (kind == s.kind) return s.failure ? n.on_failure : (kind == "test" || n.on_sync_completion);
  }
  return false;
}

std::string EmailSubject(const std::string& node, const std::string& kind) {
  for (const auto& s : kSubjects) {
    if (kind == s.kind) return "[hasync] " + node + ": " + s.text;
  }
  return "[hasync] " + node + ": " + kind;
}

Result<long> HttpGetStatus(const std::string& url, int timeout_ms) {
  InitCurl();
  CURL* c = curl_easy_init();
  if (c == nullptr) return Status(Code::kInternal, "libcurl could not start");
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    return Status(Code::kUnreachable, MaskUrlPassword(url) + ": " + curl_easy_strerror(rc) +
                                          (err[0] ? std::string(": ") + err : ""));
  }
  return code;
}

Status SendEmail(const Settings& s, const std::string& subject, const std::string& body) {
  if (s.notify.email.empty()) {
    return Status(Code::kConfig, "notify.email is not set: no address to send to");
  }
  InitCurl();
  CURL* c = curl_easy_init();
  if (c == nullptr) return Status(Code::kInternal, "libcurl could not start");
  int64_t now = NowMs();
  Upload u;
  u.data = "Date: " + IsoUtc(now, "%a, %d %b %Y %H:%M:%S +0000") + "\r\n" + "From: hasync on " +
           s.node_name + " <" + s.notify.from + ">\r\n" + "To: <" + s.notify.email + ">\r\n" +
           "Subject: " + OneLine(subject) + "\r\n" + "Message-ID: <" + std::to_string(now) + "." +
           std::to_string(::getpid()) + "@" + s.node_name + ".hasync>\r\n" +
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  // Dot-stuffing is libcurl's; line ends are SMTP's.
  for (char ch : body) {
    if (ch == '\n')
      u.data += "\r\n";
    else if (ch != '\r')
      u.data += ch;
  }
  u.data += "\r\n";
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + s.notify.email + ">").c_str());
  std::string from = "<" + s.notify.from + ">";
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, s.notify.smtp_url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &u);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));  // STARTTLS if offered
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  long response = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(c);
  if (rc == CURLE_OK) return Status::Ok();
  std::string what = std::string(curl_easy_strerror(rc)) + (err[0] ? std::string(": ") + err : "");
  if (response != 0) what += " (server reply " + std::to_string(response) + ")";
  bool unreachable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                     rc == CURLE_OPERATION_TIMEDOUT;
  return Status(unreachable ? Code::kUnreachable : Code::kPeer,
                "sending email to " + s.notify.email + " through " +
                    MaskUrlPassword(s.notify.smtp_url) + ": " + what);
}

Status RunEventCommand(const Settings& s, const EventRow& e, uint64_t generation) {
  auto out =
      RunProcess({"/bin/sh", "-c", s.notify.command},
                 ProcessOptions{.env_add = {"HASYNC_EVENT=" + e.kind,
                                            "HASYNC_EVENT_ID=" + std::to_string(e.id),
                                            "HASYNC_MESSAGE=" + e.message,
                                            "HASYNC_TIME=" + IsoUtc(e.at, "%Y-%m-%dT%H:%M:%SZ"),
                                            "HASYNC_NODE=" + s.node_name,
                                            "HASYNC_GENERATION=" + std::to_string(generation)},
                                .hook_environment = true});
  if (!out.ok()) return out.status();
  if (out->status != 0) {
    return Status(Code::kPeer, "the notify command exited with status " +
                                   std::to_string(out->status) + ": " + out->err.substr(0, 300));
  }
  return Status::Ok();
}

int PumpNotifications(const Settings& s, NodeState& state, int64_t now_ms) {
  auto log = Log("notify");
  auto pending = state.PendingEvents(now_ms, 50);
  if (!pending.ok()) {
    log->error("reading the events: {}", pending.status().message());
    return 0;
  }
  uint64_t generation = 0;
  if (auto n = state.Get(); n.ok()) generation = n->generation;
  int delivered = 0;
  for (const EventRow& e : *pending) {
    std::string email = e.email_state, command = e.command_state;
    bool failed = false;
    if (email == "pending") {
      if (!EmailFor(s.notify, e.kind)) {
        email = "skipped";
      } else {
        std::string body = "Node: " + s.node_name + "\nEvent: " + e.kind +
                           "\nTime: " + IsoUtc(e.at, "%Y-%m-%d %H:%M:%S GMT") + "\n\n" + e.message +
                           "\n";
        Status st = SendEmail(s, EmailSubject(s.node_name, e.kind), body);
        if (st.ok()) {
          email = "sent";
          ++delivered;
          log->info("emailed {} about event {} ({})", s.notify.email, e.id, e.kind);
        } else {
          failed = true;
          log->warn("event {} ({}): {} (attempt {})", e.id, e.kind, st.message(), e.attempts + 1);
        }
      }
    }
    if (command == "pending") {
      if (s.notify.command.empty()) {
        command = "skipped";
      } else {
        Status st = RunEventCommand(s, e, generation);
        if (st.ok()) {
          command = "sent";
          ++delivered;
        } else {
          failed = true;
          log->warn("event {} ({}): {} (attempt {})", e.id, e.kind, st.message(), e.attempts + 1);
        }
      }
    }
    int64_t attempts = e.attempts + (failed ? 1 : 0);
    if (failed && attempts >= kMaxNotifyAttempts) {
      log->error("event {} ({}) could not be delivered after {} attempts: given up", e.id, e.kind,
                 attempts);
      if (email == "pending") email = "failed";
      if (command == "pending") command = "failed";
    }
    int64_t wait = s.notify.retry_ms << std::min<int64_t>(attempts > 0 ? attempts - 1 : 0, 7);
    Status st = state.SetDelivery(e.id, email, command, attempts, now_ms + wait);
    if (!st.ok()) log->error("recording delivery of event {}: {}", e.id, st.message());
  }
  return delivered;
}

}  // namespace hasync::engine
