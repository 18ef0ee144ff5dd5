// The benchmark's deterministic data: `make_tree create DIR [SCALE]` builds the tree of
// bench/run.sh (about 20,000 small config-like files, 50 medium files, four 256 MiB packages;
// SCALE shrinks every count and size for a quick run), `make_tree change DIR` changes 1% of the
// tree's 64 KiB blocks in place and adds and deletes 200 files, `make_tree insert DIR` inserts
// 100 bytes at 10 offsets of one large file. `make_tree small DIR N` builds a tree of N files of
// 0 to 511 bytes in about N/57 folders (an appliance's certificates, configs and users: 200,000
// files are 49 MiB in 3,500 folders), `make_tree small-change DIR` rewrites 0.1% of them and
// adds and deletes 0.05% (at least 5 each). The same arguments always give the same bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Rng {  // splitmix64: small, fast, and the same everywhere
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_tree: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void FillRandom(Rng& r, std::string& out, size_t n) {
  size_t at = out.size();
  out.resize(at + n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = r.Next();
    std::memcpy(&out[at + i], &v, std::min<size_t>(8, n - i));
  }
}

// Text like an appliance's configuration and logs: compresses about 3 to 1.
void FillText(Rng& r, std::string& out, size_t n) {
  static const char* kWords[] = {"device",  "enrolled", "policy", "compliant", "ios",
                                 "android", "serial",   "owner",  "group",     "wifi",
                                 "vpn",     "cert",     "app",    "version",   "true",
                                 "false",   "status",   "last",   "checkin",   "profile"};
  size_t end = out.size() + n;
  while (out.size() < end) {
    char line[96];
    int len = std::snprintf(line, sizeof line, "%s.%s = %s-%06llx %s\n", kWords[r.Below(20)],
                            kWords[r.Below(20)], kWords[r.Below(20)],
                            static_cast<unsigned long long>(r.Below(1 << 20)), kWords[r.Below(20)]);
    out.append(line, std::min<size_t>(len, end - out.size()));
  }
}

// "f" + std::to_string(i) + ".conf", built by appending: GCC 12 at -O3 reports a false -Wrestrict
// (an overlapping memcpy of 2^63 bytes) when inlining operator+(const char*, std::string&&), which
// prepends to the temporary in place (GCC bug 105329). Appending each piece avoids that path, so a
// packager's plain Release build prints no warning and no -Wno-restrict is needed here.
std::string Name(const char* prefix, uint64_t n, const char* suffix = "") {
  std::string out = prefix;
  out += std::to_string(n);
  out += suffix;
  return out;
}

void WriteFile(const fs::path& p, const std::string& data) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + p.string());
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) Die("write " + p.string());
    off += n;
  }
  ::close(fd);
}

std::string ReadFile(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) Die("open " + p.string());
  struct stat st;
  ::fstat(fd, &st);
  std::string data(st.st_size, '\0');
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::pread(fd, data.data() + off, data.size() - off, off);
    if (n <= 0) Die("read " + p.string());
    off += n;
  }
  ::close(fd);
  return data;
}

// Small files: 200 B to 64 KiB, most of them a few KiB, like configs, certificates, logs.
size_t SmallSize(Rng& r) {
  int bucket = static_cast<int>(r.Below(100));
  if (bucket < 40) return 200 + r.Below(4 << 10);
  if (bucket < 80) return (4 << 10) + r.Below(28 << 10);
  return (32 << 10) + r.Below(96 << 10);
}

void SmallFile(uint64_t seed, std::string& out) {
  Rng r{seed};
  out.clear();
  size_t n = SmallSize(r);
  if (r.Below(10) == 0) {
    FillRandom(r, out, n);  // keys, certificates, small images
  } else {
    FillText(r, out, n);
  }
}

int Create(const fs::path& dir, double scale) {
  size_t small = std::max<size_t>(20, static_cast<size_t>(20000 * scale));
  size_t medium = std::max<size_t>(2, static_cast<size_t>(50 * scale));
  size_t big = std::max<size_t>(1 << 20, static_cast<size_t>((256ull << 20) * scale));
  std::string buf;
  for (size_t i = 0; i < small; ++i) {
    fs::path d = dir / "config" / Name("d", i / 100);
    if (i % 100 == 0) fs::create_directories(d);
    SmallFile(1000 + i, buf);
    WriteFile(d / Name("f", i, ".conf"), buf);
  }
  fs::create_directories(dir / "media");
  for (size_t i = 0; i < medium; ++i) {
    Rng r{500000 + i};
    buf.clear();
    size_t n = (1 << 20) + r.Below(static_cast<size_t>((14ull << 20) * std::max(scale, 0.07)));
    // Half compressible reports, half images.
    if (i % 2) {
      FillText(r, buf, n);
    } else {
      FillRandom(r, buf, n);
    }
    WriteFile(dir / "media" / Name("m", i, i % 2 ? ".log" : ".img"), buf);
  }
  fs::create_directories(dir / "packages");
  for (int i = 0; i < 4; ++i) {
    Rng r{900000 + static_cast<uint64_t>(i)};
    buf.clear();
    FillRandom(r, buf, big);  // application packages: already compressed
    WriteFile(dir / "packages" / Name("app-", i, ".ipa"), buf);
  }
  fs::create_directories(dir / "empty");
  return 0;
}

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int Change(const fs::path& dir) {
  constexpr uint64_t kBlock = 64 << 10;
  std::vector<fs::path> files = Files(dir);
  std::vector<uint64_t> first_block;  // prefix sums of block counts
  uint64_t blocks = 0;
  for (const auto& f : files) {
    first_block.push_back(blocks);
    blocks += (fs::file_size(f) + kBlock - 1) / kBlock;
  }
  Rng r{42};
  uint64_t to_change = std::max<uint64_t>(1, blocks / 100);
  std::vector<uint64_t> picked;
  while (picked.size() < to_change) {
    uint64_t b = r.Below(blocks);
    if (std::find(picked.begin(), picked.end(), b) == picked.end()) picked.push_back(b);
  }
  for (uint64_t b : picked) {
    size_t fi =
        std::upper_bound(first_block.begin(), first_block.end(), b) - first_block.begin() - 1;
    uint64_t size = fs::file_size(files[fi]);
    uint64_t off = (b - first_block[fi]) * kBlock;
    uint64_t room = std::min(kBlock, size - off);
    std::string patch;
    FillRandom(r, patch, std::min<uint64_t>(512, room));
    uint64_t at = off + r.Below(room - patch.size() + 1);
    int fd = ::open(files[fi].c_str(), O_WRONLY);
    if (fd < 0 ||
        ::pwrite(fd, patch.data(), patch.size(), at) != static_cast<ssize_t>(patch.size()))
      Die("patch " + files[fi].string());
    ::close(fd);
  }
  // 200 deleted: every n-th small file; 200 added in a new folder.
  std::vector<fs::path> small;
  for (const auto& f : files) {
    if (f.extension() == ".conf") small.push_back(f);
  }
  size_t step = std::max<size_t>(1, small.size() / 200);
  for (size_t i = 0, n = 0; i < small.size() && n < 200; i += step, ++n) fs::remove(small[i]);
  fs::create_directories(dir / "config" / "new");
  std::string buf;
  for (int i = 0; i < 200; ++i) {
    SmallFile(7000000 + i, buf);
    WriteFile(dir / "config" / "new" / Name("n", i, ".conf"), buf);
  }
  std::printf("changed %llu of %llu blocks, deleted 200 files, added 200\n",
              static_cast<unsigned long long>(to_change), static_cast<unsigned long long>(blocks));
  return 0;
}

int Insert(const fs::path& dir) {
  fs::path p = dir / "packages" / "app-0.ipa";
  std::string old = ReadFile(p);
  std::string out;
  out.reserve(old.size() + 1000);
  Rng r{77};
  size_t from = 0;
  for (int i = 0; i < 10; ++i) {
    size_t at = old.size() / 10 * i + old.size() / 20;
    out.append(old, from, at - from);
    FillRandom(r, out, 100);
    from = at;
  }
  out.append(old, from, std::string::npos);
  WriteFile(p, out);
  std::printf("inserted 10 x 100 bytes into %s\n", p.c_str());
  return 0;
}

// The many-small-files tree: file i lives in small/g<i/57/64>/d<i/57>/, 57 to a folder.
constexpr uint64_t kPerFolder = 57;

fs::path SmallPath(const fs::path& dir, uint64_t i) {
  uint64_t folder = i / kPerFolder;
  return dir / "small" / Name("g", folder / 64) / Name("d", folder) / Name("s", i, ".cfg");
}

// 0 to 511 bytes, mostly text; one in eight random (keys).
void TinyFile(uint64_t seed, std::string& out) {
  Rng r{seed};
  out.clear();
  size_t n = r.Below(512);
  if (r.Below(8) == 0) {
    FillRandom(r, out, n);
  } else {
    FillText(r, out, n);
  }
}

int CreateSmall(const fs::path& dir, uint64_t n) {
  std::string buf;
  for (uint64_t i = 0; i < n; ++i) {
    fs::path p = SmallPath(dir, i);
    if (i % kPerFolder == 0) fs::create_directories(p.parent_path());
    TinyFile(3000000 + i, buf);
    WriteFile(p, buf);
  }
  return 0;
}

int ChangeSmall(const fs::path& dir) {
  std::vector<fs::path> files = Files(dir / "small");
  if (files.empty()) {
    errno = ENOENT;
    Die("no small/ tree in " + dir.string());
  }
  size_t changed = std::max<size_t>(5, files.size() / 1000);
  size_t moved = std::max<size_t>(5, files.size() / 2000);
  Rng r{4242};
  std::string buf;
  for (size_t k = 0; k < changed; ++k) {
    TinyFile(9000000 + k, buf);
    WriteFile(files[r.Below(files.size())], buf);
  }
  size_t deleted = 0;
  for (size_t k = 0; k < moved; ++k) deleted += fs::remove(files[r.Below(files.size())]);
  fs::create_directories(dir / "small" / "new");
  for (size_t k = 0; k < moved; ++k) {
    TinyFile(9500000 + k, buf);
    WriteFile(dir / "small" / "new" / Name("n", k, ".cfg"), buf);
  }
  std::printf("rewrote %zu of %zu small files, deleted %zu, added %zu\n", changed, files.size(),
              deleted, moved);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: make_tree create DIR [SCALE] | change DIR | insert DIR | small DIR N | "
                 "small-change DIR\n");
    return 2;
  }
  std::string cmd = argv[1];
  fs::path dir = argv[2];
  if (cmd == "create") return Create(dir, argc > 3 ? std::atof(argv[3]) : 1.0);
  if (cmd == "change") return Change(dir);
  if (cmd == "insert") return Insert(dir);
  if (cmd == "small" && argc > 3) return CreateSmall(dir, std::strtoull(argv[3], nullptr, 10));
  if (cmd == "small-change") return ChangeSmall(dir);
  std::fprintf(stderr, "make_tree: unknown command %s\n", cmd.c_str());
  return 2;
}
