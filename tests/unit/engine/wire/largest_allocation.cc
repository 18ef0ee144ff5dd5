// Replaces the global operator new of the wire tests' binary to remember the largest request,
// so a test can show that a tiny payload claiming a huge count never reserves for it.
#include "tests/unit/engine/wire/largest_allocation.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<size_t> largest{0};
}  // namespace

void* operator new(size_t n) {
  size_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace hasync::engine {

void ResetLargestAllocation() { largest.store(0, std::memory_order_relaxed); }
size_t LargestAllocation() { return largest.load(std::memory_order_relaxed); }

}  // namespace hasync::engine
