// The largest single allocation since the last reset, measured by replacing the global operator
// new in the wire tests' binary (largest_allocation.cc): it shows a decoder does not size an
// array from a peer's count before it has the bytes for it.
#pragma once

#include <cstddef>

namespace hasync::engine {

// Starts a measurement. Not thread-safe against other threads allocating meanwhile.
void ResetLargestAllocation();
// The largest size passed to operator new since ResetLargestAllocation.
size_t LargestAllocation();

}  // namespace hasync::engine
