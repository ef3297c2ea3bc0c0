#include "util/http_headers.h"

#include <cctype>

namespace stowage {

size_t collect_http_header(char* data, size_t size, size_t count, void* user_data) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user_data);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  size_t begin = line.find_first_not_of(" \t", colon + 1);
  size_t end = line.find_last_not_of(" \t\r\n");
  (*headers)[name] = begin == std::string::npos || end < begin ? "" : line.substr(begin, end - begin + 1);
  return size * count;
}

}  // namespace stowage
