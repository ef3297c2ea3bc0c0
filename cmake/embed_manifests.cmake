# embed_manifests.cmake: writes OUTPUT, a C++ source that defines
# stowage::control::embedded_manifests() (src/control/manifests.h) holding
# every BASE/*.yaml and BASE/crds/*.yaml file, sorted by path.
# Run at build time: cmake -DBASE=<deploy dir> -DOUTPUT=<file.cpp> -P embed_manifests.cmake
if(NOT BASE OR NOT OUTPUT)
  message(FATAL_ERROR "embed_manifests.cmake needs -DBASE=<dir> and -DOUTPUT=<file>")
endif()
file(GLOB files RELATIVE ${BASE} ${BASE}/*.yaml ${BASE}/crds/*.yaml)
list(SORT files)
set(body "")
set(table "")
set(index 0)
# CMake regular expressions have no {n} repetition (and few groups): spell
# out the 16 escapes of one line.
string(REPEAT "\\\\x[0-9a-f][0-9a-f]" 16 line_of_bytes)
foreach(path IN LISTS files)
  file(READ ${BASE}/${path} hex HEX)
  # Every byte as a \xNN escape, 16 to a line of adjacent string literals.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(REGEX REPLACE "(${line_of_bytes})" "\\1\"\n    \"" escaped "${escaped}")
  string(APPEND body "constexpr char kFile${index}[] =\n    \"${escaped}\";\n")
  string(APPEND table "      {\"${path}\", std::string_view(kFile${index}, sizeof kFile${index} - 1)},\n")
  math(EXPR index "${index} + 1")
endforeach()
file(WRITE ${OUTPUT} "// Generated at build time by cmake/embed_manifests.cmake from deploy/: do not edit.
#include \"control/manifests.h\"

namespace stowage::control {
namespace {

${body}
}  // namespace

std::span<const EmbeddedFile> embedded_manifests() {
  static const EmbeddedFile files[] = {
${table}  };
  return files;
}

}  // namespace stowage::control
")
