// stowage: the command-line entry point; everything lives in the cli layer.
#include "cli/app.h"

int main(int argc, char** argv) { return stowage::cli::run(argc, argv); }
