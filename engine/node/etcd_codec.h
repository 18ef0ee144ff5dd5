// The etcd client's byte-level codecs, pure and unit-tested (tests/unit/engine/node/
// etcd_codec_test.cc): base64 for keys and values, a prefix's range end, and the nesting check
// that runs before a JSON answer is parsed.
#pragma once

#include <optional>
#include <string>

namespace hasync::engine {

// Standard base64 with padding, as etcd's gateway writes bytes fields.
std::string Base64Encode(const std::string& in);
// nullopt unless in is standard padded base64.
std::optional<std::string> Base64Decode(const std::string& in);

// The first key after every key that starts with prefix (etcd's range_end for a prefix): the
// last byte below 0xff raised by one, what follows it dropped; "\0" (every key from prefix on)
// when every byte is 0xff.
std::string PrefixEnd(std::string prefix);

// Whether a JSON text nests objects and lists deeper than max_depth (brackets inside strings do
// not count). Deeper nesting than etcd ever sends is refused before parsing, so a hostile answer
// cannot make the parser build millions of nested values.
bool NestsTooDeep(const std::string& body, int max_depth);

}  // namespace hasync::engine
