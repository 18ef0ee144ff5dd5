// Test double for fault injection: copies stdin to stdout, flipping one bit of the byte at the
// given offset, like a link that corrupts data in transit.
#include <unistd.h>

#include <cstdlib>

int main(int argc, char** argv) {
  long target = argc > 1 ? std::atol(argv[1]) : 0;
  char buf[65536];
  long pos = 0;
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n <= 0) return 0;
    if (target >= pos && target < pos + n) buf[target - pos] ^= 0x10;
    pos += n;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(1, buf + done, static_cast<size_t>(n - done));
      if (w <= 0) return 1;
      done += w;
    }
  }
}
