// The etcd client's codecs: base64 both ways, a prefix's range end, the nesting check.
#include "engine/node/etcd_codec.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

TEST(EtcdCodecTest, Base64RoundTripsEveryLength) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("/hasync/hasync/leader"), "L2hhc3luYy9oYXN5bmMvbGVhZGVy");
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t n = 0; n <= bytes.size(); ++n) {
    auto back = Base64Decode(Base64Encode(bytes.substr(0, n)));
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, bytes.substr(0, n)) << n;
  }
}

TEST(EtcdCodecTest, Base64DecodeRefusesWhatIsNotBase64) {
  for (const char* bad : {"Zg=", "Zg", "!!!!", "Zg==Zm9v", "Z===", "Zm9v\n", "Zm 9"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(EtcdCodecTest, PrefixEndIsTheFirstKeyPastThePrefix) {
  EXPECT_EQ(PrefixEnd("/hasync/"), "/hasync0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdCodecTest, NestingIsCountedOutsideStrings) {
  EXPECT_FALSE(NestsTooDeep("{\"a\":[{\"b\":[]}]}", 4));
  EXPECT_TRUE(NestsTooDeep("{\"a\":[{\"b\":[[]]}]}", 4));
  EXPECT_FALSE(NestsTooDeep("{\"a\":\"[[[[[[[[\\\"[[[[\"}", 1));
  EXPECT_TRUE(NestsTooDeep(std::string(100000, '['), 32));
}

}  // namespace
}  // namespace hasync::engine
