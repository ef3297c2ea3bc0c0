// Exit codes and error reporting shared by every command (docs/cli.md).
#pragma once

#include "util/result.h"

namespace stowage::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitIncomplete = 3;  // written, but not all of it (a snapshot with unreadable entries, a PartiallyFailed backup or restore)
constexpr int kExitDamaged = 4;     // check found damage
constexpr int kExitNoRepository = 10;
constexpr int kExitWrongPassword = 11;
constexpr int kExitLocked = 12;

int exit_code_for(const Error& e);
// Prints "stowage: error: ..." to stderr and returns the exit code.
int report(const Error& e);

}  // namespace stowage::cli
