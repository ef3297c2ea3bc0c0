// The stowage command line: parses arguments (CLI11) and dispatches to the
// repository, snapshot and maintenance commands. Returns the process exit code.
#pragma once

namespace stowage::cli {
int run(int argc, char** argv);
}
