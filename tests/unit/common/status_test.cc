// Status, error codes and the errno adapter.
#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace hasync {
namespace {

TEST(StatusTest, CodesAreStableExitCodes) {
  EXPECT_EQ(ExitCode(Code::kOk), 0);
  EXPECT_EQ(ExitCode(Code::kUsage), 2);
  EXPECT_EQ(ExitCode(Code::kNoSpace), 5);
  EXPECT_EQ(ExitCode(Code::kVersion), 9);
  EXPECT_EQ(CodeName(Code::kNoSpace), "no_space");
  EXPECT_EQ(CodeName(Code::kUnsafePath), "unsafe_path");
}

TEST(StatusTest, ErrnoMapsFullDiskAndMissingFiles) {
  EXPECT_EQ(ErrnoStatus("w", ENOSPC).code(), Code::kNoSpace);
  EXPECT_EQ(ErrnoStatus("w", EDQUOT).code(), Code::kNoSpace);
  EXPECT_EQ(ErrnoStatus("r", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(ErrnoStatus("r", EIO).code(), Code::kIo);
}

TEST(StatusTest, ContextKeepsTheCode) {
  Status st = Status(Code::kChecksum, "block 3").Context("receiving a.bin");
  EXPECT_EQ(st.code(), Code::kChecksum);
  EXPECT_EQ(st.message(), "receiving a.bin: block 3");
}

}  // namespace
}  // namespace hasync
