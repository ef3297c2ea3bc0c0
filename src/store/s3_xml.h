// XmlElement: a small tree of an S3 XML answer (ListBucketResult, Error,
// InitiateMultipartUploadResult, ...), parsed with expat, namespaces dropped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace stowage {

struct XmlElement {
  std::string name;  // local name: a "prefix:" and the namespace are dropped
  std::string text;  // character data directly inside this element, entities decoded
  std::vector<XmlElement> children;

  // The first child with this name, or nullptr.
  const XmlElement* child(std::string_view child_name) const;
  // The text of the first child with this name, or "" when there is none.
  std::string child_text(std::string_view child_name) const;
};

// Parses a whole document; `what` names it in errors ("ListObjectsV2 answer
// for s3://bucket/prefix").
Result<XmlElement> parse_xml(std::string_view document, const std::string& what);

// Escapes text for use inside an XML element (&, <, >, ", ').
std::string xml_escape(std::string_view text);

}  // namespace stowage
