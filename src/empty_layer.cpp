// Placeholder source for a layer that has no files yet (CMakeLists.txt stowage_layer).
