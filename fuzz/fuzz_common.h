// Shared helpers of the libFuzzer targets in fuzz/*_fuzzer.cpp (this header is
// not a target: CMake builds only fuzz/*.cpp).
//
// Seeds: every target can write its own seed inputs. With
// STOWAGE_FUZZ_WRITE_SEEDS=<dir> set, LLVMFuzzerInitialize writes them to
// <dir>/<target>/ and exits; fuzz/run.sh --write-seeds does this for every
// target into fuzz/corpus/.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "util/bytes.h"

namespace fuzz {

using stowage::ByteView;
using stowage::Bytes;

// A fixed 32-byte key: the "repository key" of every target that needs one,
// so that sealed seeds written once stay valid across runs.
inline const Bytes& fixed_key() {
  static const Bytes key = [] {
    Bytes k(32);
    for (size_t i = 0; i < k.size(); i++) k[i] = uint8_t(0xA5 ^ (i * 7));
    return k;
  }();
  return key;
}
inline const Bytes& fixed_id_key() {
  static const Bytes key = [] {
    Bytes k(32);
    for (size_t i = 0; i < k.size(); i++) k[i] = uint8_t(0x3C + i * 13);
    return k;
  }();
  return key;
}

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\nFUZZ CHECK FAILED at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  __builtin_trap();
}
// A property that must hold for every input; a violation is a real bug.
#define FUZZ_CHECK(cond)                                  \
  do {                                                    \
    if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)

// Consumes fixed-width fields from the front of the fuzzer input; past the end
// every read yields zeros / empty views, never an out-of-range access.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  size_t remaining() const { return n_; }
  uint8_t u8() {
    if (!n_) return 0;
    n_--;
    return *p_++;
  }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
  uint32_t u32() { return uint32_t(u16()) | (uint32_t(u16()) << 16); }
  uint64_t u64() { return uint64_t(u32()) | (uint64_t(u32()) << 32); }
  ByteView take(size_t want) {
    size_t k = want < n_ ? want : n_;
    ByteView out(p_, k);
    p_ += k;
    n_ -= k;
    return out;
  }
  ByteView rest() { return take(n_); }

 private:
  const uint8_t* p_;
  size_t n_;
};

using Seeds = std::vector<std::pair<std::string, Bytes>>;

inline Bytes with_prefix(std::initializer_list<uint8_t> prefix, ByteView body) {
  Bytes out(prefix);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// When STOWAGE_FUZZ_WRITE_SEEDS names a directory: writes make_seeds() to
// <dir>/<target>/<name> and exits the process. Otherwise does nothing.
template <class F>
void maybe_write_seeds(const char* target, F make_seeds) {
  const char* dir = std::getenv("STOWAGE_FUZZ_WRITE_SEEDS");
  if (!dir || !*dir) return;
  std::filesystem::path out = std::filesystem::path(dir) / target;
  std::filesystem::create_directories(out);
  Seeds seeds = make_seeds();
  for (const auto& [name, bytes] : seeds) {
    std::ofstream f(out / name, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!f) {
      std::fprintf(stderr, "cannot write seed %s\n", (out / name).c_str());
      std::exit(1);
    }
  }
  std::fprintf(stderr, "%s: wrote %zu seeds to %s\n", target, seeds.size(), out.c_str());
  std::exit(0);
}

}  // namespace fuzz
