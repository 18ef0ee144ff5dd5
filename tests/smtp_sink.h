// A loopback SMTP sink for the notification tests: it speaks enough SMTP (RFC 5321: greeting,
// EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for a real client (libcurl)
// to deliver to it, and keeps every message for the test to read. It can refuse the next N
// messages with a temporary error (451), to test retries.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hasync::testing {

class SmtpSink {
 public:
  struct Message {
    std::string from;
    std::vector<std::string> to;
    std::string data;  // headers and body, CRLF line ends, unstuffed
    std::string Header(const std::string& name) const {
      size_t p = data.find("\r\n" + name + ": ");
      if (data.rfind(name + ": ", 0) == 0)
        p = 0;
      else if (p == std::string::npos)
        return "";
      else
        p += 2;
      p += name.size() + 2;
      return data.substr(p, data.find("\r\n", p) - p);
    }
    std::string Body() const {
      size_t p = data.find("\r\n\r\n");
      return p == std::string::npos ? "" : data.substr(p + 4);
    }
  };

  SmtpSink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SmtpSink() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  void RefuseNext(int n) { refuse_ = n; }
  std::vector<Message> messages() {
    std::lock_guard<std::mutex> l(mu_);
    return messages_;
  }
  // Waits up to `timeout_ms` for at least n messages; returns them.
  std::vector<Message> WaitFor(size_t n, int timeout_ms = 10000) {
    for (int waited = 0; waited < timeout_ms; waited += 50) {
      if (messages().size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return messages();
  }
  int refused() const { return refused_; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        Serve(c);
        ::close(c);
      }
    }
  }
  static void Send(int c, const std::string& s) { (void)!::write(c, s.data(), s.size()); }
  // One line (without CRLF), or false when the client went away.
  bool ReadLine(int c, std::string& buf, std::string& line) {
    for (;;) {
      size_t e = buf.find("\r\n");
      if (e != std::string::npos) {
        line = buf.substr(0, e);
        buf.erase(0, e + 2);
        return true;
      }
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      char tmp[4096];
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
  }
  void Serve(int c) {
    Send(c, "220 sink.test ESMTP hasync test sink\r\n");
    std::string buf, line;
    Message m;
    while (ReadLine(c, buf, line)) {
      std::string verb = line.substr(0, 4);
      for (auto& ch : verb) ch = static_cast<char>(toupper(ch));
      if (verb == "EHLO") {
        Send(c, "250-sink.test\r\n250 8BITMIME\r\n");
      } else if (verb == "HELO" || verb == "NOOP") {
        Send(c, "250 ok\r\n");
      } else if (verb == "MAIL") {
        if (refuse_ > 0) {
          --refuse_;
          ++refused_;
          Send(c, "451 4.3.0 try again later\r\n");
          continue;
        }
        m = Message{};
        m.from = line.substr(line.find(':') + 1);
        Send(c, "250 ok\r\n");
      } else if (verb == "RCPT") {
        m.to.push_back(line.substr(line.find(':') + 1));
        Send(c, "250 ok\r\n");
      } else if (verb == "DATA") {
        Send(c, "354 go ahead\r\n");
        while (ReadLine(c, buf, line) && line != ".") {
          if (!line.empty() && line[0] == '.') line.erase(0, 1);
          m.data += line + "\r\n";
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          messages_.push_back(m);
        }
        Send(c, "250 queued\r\n");
      } else if (verb == "RSET") {
        m = Message{};
        Send(c, "250 ok\r\n");
      } else if (verb == "QUIT") {
        Send(c, "221 bye\r\n");
        return;
      } else {
        Send(c, "502 not implemented\r\n");
      }
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> refuse_{0};
  std::atomic<int> refused_{0};
  std::mutex mu_;
  std::vector<Message> messages_;
  std::thread thread_;
};

}  // namespace hasync::testing
