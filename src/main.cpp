// stowage: the command-line entry point; everything lives in the cli layer.
#include <malloc.h>

#include "cli/app.h"

int main(int argc, char** argv) {
  // The data path allocates and frees buffers of 1-8 MiB all the time (read
  // buffers, compressed and sealed blobs, pack pieces, prefetched blocks).
  // glibc's defaults map such a buffer afresh and unmap it on free, or trim
  // the heap it came from, so the kernel faults in and zeroes every MiB again:
  // about 0.7 ms per MiB on the benchmark machine, a third of a tree backup's
  // system time. Freed memory is kept in the process for reuse instead. Peak
  // RSS rises somewhat (tree backup 103-113 -> 122-125 MiB, image restore
  // ~92 -> ~122 MiB median), but it stays bounded by the configuration.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest; buffers below it come from the heap
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return stowage::cli::run(argc, argv);
}
