#include "control/item_spool.h"

#include <cerrno>
#include <cstring>

namespace stowage::control {

Result<std::unique_ptr<ItemSpool>> ItemSpool::create() {
  FILE* file = tmpfile();
  if (!file)
    return Error(ErrorCode::kIo, std::string("cannot create a temporary file for the restore: ") + strerror(errno),
                 "", "make sure TMPDIR (or /tmp) is writable and has room for the backup's items");
  return std::unique_ptr<ItemSpool>(new ItemSpool(file));
}

ItemSpool::~ItemSpool() { fclose(file_); }

Status ItemSpool::add(const archive::ItemPath& path, const nlohmann::json& object) {
  std::string text = object.dump();
  if (fseeko(file_, static_cast<off_t>(size_), SEEK_SET) != 0 || fwrite(text.data(), 1, text.size(), file_) != text.size())
    return Error(ErrorCode::kIo, std::string("writing the restore's temporary file failed: ") + strerror(errno), "",
                 "free space in TMPDIR");
  SpooledItem item;
  item.path = path;
  item.api_version = object.value("apiVersion", std::string());
  item.kind = object.value("kind", std::string());
  item.uid = object["metadata"].value("uid", std::string());
  item.offset = size_;
  item.length = text.size();
  size_ += text.size();
  items_.push_back(std::move(item));
  return ok_status();
}

Result<nlohmann::json> ItemSpool::load(const SpooledItem& item) const {
  std::string text(item.length, '\0');
  if (fseeko(file_, static_cast<off_t>(item.offset), SEEK_SET) != 0 ||
      fread(text.data(), 1, text.size(), file_) != text.size())
    return Error(ErrorCode::kIo, std::string("reading the restore's temporary file failed: ") + strerror(errno));
  return nlohmann::json::parse(text);
}

}  // namespace stowage::control
