// Child processes run without a shell: argv as given, stdin from /dev/null, stdout and stderr
// collected. Used for OpenSSH's tools, pg_dump and the operator's hooks (with a reduced
// environment).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hasync {

struct ProcessOutput {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with argv; env_add ("NAME=value") is added to this process's
// environment for the child only, so secrets such as PGPASSWORD stay off command lines.
// kNotFound when the program is not installed.
Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env_add = {});

struct ProcessOptions {
  std::vector<std::string> env_add;  // "NAME=value", for the child only
  // The operator's hooks and notify command: the child inherits only PATH, HOME, LANG, LC_*
  // and TZ of this process's environment, plus env_add; the daemon's secrets (PGPASSWORD, say)
  // and whatever else it was started with stay out of it.
  bool hook_environment = false;
};
Result<ProcessOutput> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& o);

// Does a hook's environment keep "NAME=value" of this process's (PATH, HOME, LANG, LC_*, TZ)?
bool KeptForHooks(const char* entry);

}  // namespace hasync
