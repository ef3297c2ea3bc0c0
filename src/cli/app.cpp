#include "cli/app.h"

namespace stowage::cli {
int run(int, char**) { return 0; }
}  // namespace stowage::cli
