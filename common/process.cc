// Child processes (pg_dump, ssh-keygen, hooks): fork and exec with everything the child needs
// built before the fork, their output read through poll so neither pipe can fill and stall the
// child. The child gets this process's environment plus the variables given, or for a hook only
// the few variables a shell script needs.
#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hasync {

bool KeptForHooks(const char* entry) {
  for (const char* name : {"PATH=", "HOME=", "LANG=", "TZ=", "LC_"}) {
    if (std::strncmp(entry, name, std::strlen(name)) == 0) return true;
  }
  return false;
}

Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env_add) {
  return RunProcess(argv, ProcessOptions{.env_add = env_add});
}

Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  const std::vector<std::string>& env_add = opts.env_add;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus("creating a pipe", errno);
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return ErrnoStatus("creating a pipe", errno);
  }
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!opts.hook_environment || KeptForHooks(*e)) envp.push_back(*e);
  }
  for (const auto& e : env_add) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int saved = errno;
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    return ErrnoStatus("starting " + argv[0], saved);
  }
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ProcessOutput o;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? o.out : o.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  o.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  if (o.status == 127) return Status(Code::kNotFound, argv[0] + " is not installed");
  return o;
}

}  // namespace hasync
