// Fuzzes the settings parser (engine/config/settings.h) with the text of a settings file: any
// text must become settings or one kConfig error naming the key, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/config/settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)hasync::engine::ParseSettings(text, "fuzz.toml");
  return 0;
}
