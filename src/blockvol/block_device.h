// BlockDevice: what the NBD server exports — a byte-addressed volume with
// reads, writes (optionally forced to stable storage), zeroing and flush.
#pragma once

#include <cstdint>
#include <span>

#include "util/result.h"

namespace stowage::blockvol {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  virtual uint64_t size() const = 0;
  virtual Status read(uint64_t offset, std::span<uint8_t> out) = 0;
  virtual Status write(uint64_t offset, std::span<const uint8_t> data, bool fua) = 0;
  virtual Status write_zeroes(uint64_t offset, uint32_t length, bool fua) = 0;
  virtual Status flush() = 0;
};

}  // namespace stowage::blockvol
