// The XML reading behind S3Store: S3 answers as servers really send them.
#include "store/s3_xml.h"

#include <gtest/gtest.h>

#include "store_test_support.h"

namespace stowage::store_test {
namespace {

TEST(S3XmlTest, ReadsAListObjectsV2Answer) {
  const char* answer =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
      "<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1/abc+def=</NextContinuationToken>"
      "<Contents><Key>p/a&amp;b &lt;c&gt;</Key><Size>12</Size>"
      "<LastModified>2026-02-12T20:18:48.000Z</LastModified></Contents>"
      "<Contents><Key><![CDATA[p/caf\xc3\xa9]]></Key><Size>0</Size></Contents></ListBucketResult>";
  auto xml = parse_xml(answer, "test answer");
  STOWAGE_ASSERT_OK(xml);
  EXPECT_EQ(xml->name, "ListBucketResult");
  EXPECT_EQ(xml->child_text("IsTruncated"), "true");
  EXPECT_EQ(xml->child_text("NextContinuationToken"), "1/abc+def=");
  std::vector<std::string> keys;
  for (const XmlElement& child : xml->children) {
    if (child.name == "Contents") keys.push_back(child.child_text("Key"));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"p/a&b <c>", "p/caf\xc3\xa9"}));
  EXPECT_EQ(xml->child_text("Missing"), "");
  EXPECT_EQ(xml->child("Missing"), nullptr);
}

TEST(S3XmlTest, DropsNamespacePrefixes) {
  auto xml = parse_xml("<s3:Error xmlns:s3=\"x\"><s3:Code>NoSuchKey</s3:Code></s3:Error>", "test answer");
  STOWAGE_ASSERT_OK(xml);
  EXPECT_EQ(xml->name, "Error");
  EXPECT_EQ(xml->child_text("Code"), "NoSuchKey");
}

TEST(S3XmlTest, RejectsWhatIsNotXmlWithAnExcerpt) {
  for (const char* text : {"", "<html><body>Bad Gateway", "plain text", "<a><b></a>"}) {
    auto xml = parse_xml(text, "ListObjectsV2 answer for s3://b/p");
    ASSERT_FALSE(xml.ok()) << text;
    EXPECT_EQ(xml.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(xml.error().message().find("ListObjectsV2 answer for s3://b/p"), std::string::npos);
    EXPECT_FALSE(xml.error().hint().empty());
  }
}

TEST(S3XmlTest, RejectsAbsurdNesting) {
  std::string deep;
  for (int i = 0; i < 200; i++) deep += "<a>";
  for (int i = 0; i < 200; i++) deep += "</a>";
  STOWAGE_EXPECT_CODE(parse_xml(deep, "deep"), ErrorCode::kCorrupt);
}

TEST(S3XmlTest, EscapesTextForRequests) {
  EXPECT_EQ(xml_escape("\"etag\" & <x> 'y'"), "&quot;etag&quot; &amp; &lt;x&gt; &apos;y&apos;");
}

}  // namespace
}  // namespace stowage::store_test
