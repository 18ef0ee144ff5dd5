// Encoder and Decoder: the byte layout under every frame payload, manifest and journal record.
// Little-endian fixed integers, LEB128 varints, length-prefixed strings. The Decoder is strict:
// reading past the end, an over-long varint or a string over its limit is an error (kProtocol),
// never undefined behaviour, so a hostile peer's bytes can be decoded safely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hasync {

class Encoder {
 public:
  void PutU8(uint8_t v) { buf_.push_back(static_cast<std::byte>(v)); }
  void PutFixed32(uint32_t v) { PutRaw(&v, 4); }
  void PutFixed64(uint64_t v) { PutRaw(&v, 8); }
  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      PutU8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    PutU8(static_cast<uint8_t>(v));
  }
  // Zig-zag, for signed values such as times before 1970.
  void PutSigned(int64_t v) {
    PutVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void PutString(std::string_view s) {
    PutVarint(s.size());
    PutRaw(s.data(), s.size());
  }
  void PutBytes(std::span<const std::byte> b) {
    PutVarint(b.size());
    PutRaw(b.data(), b.size());
  }
  void PutRaw(const void* p, size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<std::byte>& buffer() { return buf_; }
  std::span<const std::byte> view() const { return buf_; }
  size_t size() const { return buf_.size(); }
  void Clear() { buf_.clear(); }

 private:
  std::vector<std::byte> buf_;
};

class Decoder {
 public:
  explicit Decoder(std::span<const std::byte> data) : data_(data) {}

  Result<uint8_t> GetU8() {
    if (pos_ >= data_.size()) return Truncated();
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint32_t> GetFixed32() { return GetFixed<uint32_t>(); }
  Result<uint64_t> GetFixed64() { return GetFixed<uint64_t>(); }
  Result<uint64_t> GetVarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Truncated();
      auto b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && b > 1) break;
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Status(Code::kProtocol, "malformed varint");
  }
  // A varint that must not exceed max (counts, sizes): the check belongs to decoding.
  Result<uint64_t> GetVarint(uint64_t max, const char* what) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t v, GetVarint());
    if (v > max) {
      return Status(Code::kProtocol, std::string(what) + " " + std::to_string(v) +
                                         " exceeds the limit " + std::to_string(max));
    }
    return v;
  }
  Result<int64_t> GetSigned() {
    HASYNC_ASSIGN_OR_RETURN(uint64_t u, GetVarint());
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  Result<std::string> GetString(size_t max_len) {
    HASYNC_ASSIGN_OR_RETURN(auto b, GetSpan(max_len));
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // A view into the decoded buffer; valid while that buffer lives.
  Result<std::span<const std::byte>> GetSpan(size_t max_len) {
    HASYNC_ASSIGN_OR_RETURN(uint64_t n, GetVarint(max_len, "length"));
    if (n > data_.size() - pos_) return Truncated();
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  bool empty() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  // Decoding a message must consume it exactly: trailing bytes are a protocol violation.
  Status ExpectEnd() const {
    if (!empty()) return Status(Code::kProtocol, "trailing bytes after a message");
    return Status::Ok();
  }

 private:
  template <typename T>
  Result<T> GetFixed() {
    if (data_.size() - pos_ < sizeof(T)) return Truncated();
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  static Status Truncated() { return Status(Code::kProtocol, "truncated message"); }

  std::span<const std::byte> data_;
  size_t pos_ = 0;
};

}  // namespace hasync
