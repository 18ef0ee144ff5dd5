// Child processes run without a shell: argv as given, stdin from /dev/null, stdout and stderr
// collected. Used for OpenSSH's tools and pg_dump.
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

}  // namespace hasync
