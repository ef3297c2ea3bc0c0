#include "store/s3_xml.h"

#include <expat.h>

#include <memory>

namespace stowage {

const XmlElement* XmlElement::child(std::string_view child_name) const {
  for (const XmlElement& element : children) {
    if (element.name == child_name) return &element;
  }
  return nullptr;
}

std::string XmlElement::child_text(std::string_view child_name) const {
  const XmlElement* element = child(child_name);
  return element ? element->text : std::string();
}

namespace {

constexpr size_t kMaxDepth = 64;

struct ParseState {
  XmlElement root;
  std::vector<XmlElement*> open;  // ancestors of the current position, innermost last
  bool have_root = false;
  bool too_deep = false;
  XML_Parser parser = nullptr;
};

std::string local_name(const XML_Char* name) {
  std::string_view view(name);
  size_t colon = view.rfind(':');
  return std::string(colon == std::string_view::npos ? view : view.substr(colon + 1));
}

void on_start(void* user_data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* state = static_cast<ParseState*>(user_data);
  if (state->open.size() >= kMaxDepth) {
    state->too_deep = true;
    XML_StopParser(state->parser, XML_FALSE);
    return;
  }
  XmlElement* element;
  if (state->open.empty()) {
    element = &state->root;
    state->have_root = true;
  } else {
    // Only the innermost open element's children grow, so the pointers to its
    // ancestors in `open` stay valid.
    state->open.back()->children.emplace_back();
    element = &state->open.back()->children.back();
  }
  element->name = local_name(name);
  state->open.push_back(element);
}

void on_end(void* user_data, const XML_Char* /*name*/) {
  auto* state = static_cast<ParseState*>(user_data);
  if (!state->open.empty()) state->open.pop_back();
}

void on_text(void* user_data, const XML_Char* text, int length) {
  auto* state = static_cast<ParseState*>(user_data);
  if (!state->open.empty()) state->open.back()->text.append(text, size_t(length));
}

}  // namespace

Result<XmlElement> parse_xml(std::string_view document, const std::string& what) {
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(XML_ParserCreate("UTF-8"), &XML_ParserFree);
  if (!parser) return Error(ErrorCode::kInternal, "cannot create an XML parser for the " + what, what);
  ParseState state;
  state.parser = parser.get();
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), on_start, on_end);
  XML_SetCharacterDataHandler(parser.get(), on_text);
  if (document.size() > size_t(INT32_MAX)) {
    return Error(ErrorCode::kCorrupt, "the " + what + " is too large to parse", what);
  }
  XML_Status status = XML_Parse(parser.get(), document.data(), int(document.size()), XML_TRUE);
  if (state.too_deep) {
    return Error(ErrorCode::kCorrupt, "the " + what + " nests XML deeper than " + std::to_string(kMaxDepth) + " levels",
                 what, "the server is not speaking the S3 protocol; check the endpoint");
  }
  if (status != XML_STATUS_OK || !state.have_root) {
    std::string reason = state.have_root ? XML_ErrorString(XML_GetErrorCode(parser.get())) : "no root element";
    std::string excerpt(document.substr(0, 200));
    return Error(ErrorCode::kCorrupt,
                 "the " + what + " is not valid XML (" + reason + " at line " +
                     std::to_string(XML_GetCurrentLineNumber(parser.get())) + "): \"" + excerpt + "\"",
                 what, "the server is not speaking the S3 protocol; check the endpoint URL");
  }
  return std::move(state.root);
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace stowage
