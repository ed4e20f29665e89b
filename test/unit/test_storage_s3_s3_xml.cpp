// Unit tests for core/storage/s3/s3_xml: response bodies as the Amazon S3 API reference shows them and as
// s3rver (the Node S3 test server) writes them, malformed XML, the request bodies byte for byte, and the
// tables that map S3 failures to a Status and decide what is worth retrying.
#include "core/storage/s3/s3_xml.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <string>
#include <utility>
#include <vector>

namespace walvault {
namespace {

// ---- ListObjectsV2 -------------------------------------------------------------------------------------

// The shape of the API reference's "list objects" example, indented as there, with a WAL key added.
constexpr const char* k_aws_list = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <Prefix/>
    <KeyCount>2</KeyCount>
    <MaxKeys>1000</MaxKeys>
    <IsTruncated>false</IsTruncated>
    <Contents>
        <Key>my-image.jpg</Key>
        <LastModified>2009-10-12T17:50:30.000Z</LastModified>
        <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
        <Size>434234</Size>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
    <Contents>
        <Key>wal/0000000100000000/000000010000000000000003.zst</Key>
        <LastModified>2024-05-02T10:11:12.000Z</LastModified>
        <ETag>"0e3b7d4a3f3c5d8e9a1b2c3d4e5f6a7b"</ETag>
        <Size>5368709120</Size>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
</ListBucketResult>)";

// The API reference's example with max-keys=3: a truncated page and its continuation token.
constexpr const char* k_aws_list_truncated = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix></Prefix>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <KeyCount>3</KeyCount>
  <MaxKeys>3</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>happyface.jpg</Key>
    <LastModified>2014-11-21T19:40:05.000Z</LastModified>
    <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71&quot;</ETag>
    <Size>11</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>photos/2006/February/sample2.jpg</Key>
    <LastModified>2014-11-21T19:40:05.000Z</LastModified>
    <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71&quot;</ETag>
    <Size>1111</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>photos/2006/January/sample.jpg</Key>
    <LastModified>2014-11-21T19:40:05.000Z</LastModified>
    <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71&quot;</ETag>
    <Size>0</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
</ListBucketResult>)";

// An empty prefix: no <Contents> at all.
constexpr const char* k_aws_list_empty = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <Prefix>wal/</Prefix>
    <KeyCount>0</KeyCount>
    <MaxKeys>1000</MaxKeys>
    <IsTruncated>false</IsTruncated>
</ListBucketResult>)";

// Keys that need XML escaping: the five predefined entities, decimal and hex character references, raw
// UTF-8, a CDATA section, and whitespace that belongs to the key.
constexpr const char* k_list_escaped = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <IsTruncated>false</IsTruncated>
    <Contents><Key>a&amp;b&lt;c&gt;d &quot;e&quot; &apos;f&apos;</Key><Size>1</Size></Contents>
    <Contents><Key>caf&#233;/&#xE9;t&#xe9; été 日本</Key><Size>2</Size></Contents>
    <Contents><Key><![CDATA[x<&>y]]></Key><Size>3</Size></Contents>
    <Contents><Key> </Key><Size>4</Size></Contents>
    <Contents><Key>  lead and trail  </Key><Size>5</Size></Contents>
    <Contents><Key>line&#10;feed</Key><Size>6</Size></Contents>
</ListBucketResult>)";

// s3rver writes one line after the declaration, its own namespace URI (doc.s3.amazonaws.com), he.escape's
// entities (&quot; and &#x27;) and, for list-type=2, no Owner.
constexpr const char* k_s3rver_list =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\"><Name>walvault</Name>"
    "<Prefix>repo/wal/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    "<Contents><Key>repo/wal/0000000100000000/000000010000000000000001.zst</Key>"
    "<LastModified>2024-05-02T10:11:12.345Z</LastModified><ETag>&quot;9e107d9d372bb6826bd81d3542a419d6&quot;</ETag>"
    "<Size>123456</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>repo/wal/it&#x27;s &amp; more</Key><LastModified>2024-05-02T10:11:13.000Z</LastModified>"
    "<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents></ListBucketResult>";

// s3rver's truncated page: its continuation token is base64 of DES output, so '+', '/' and '='.
constexpr const char* k_s3rver_list_truncated =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\"><Name>walvault</Name><Prefix></Prefix>"
    "<NextContinuationToken>1Kb+Qv3x/Zm0Yw==</NextContinuationToken><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys>"
    "<IsTruncated>true</IsTruncated><Contents><Key>a</Key><LastModified>2024-05-02T10:11:12.345Z</LastModified>"
    "<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents></ListBucketResult>";

// The same content pretty-printed with a namespace prefix: elements match by local name.
constexpr const char* k_prefixed_list = R"(<?xml version="1.0" encoding="UTF-8"?>
<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">
  <s3:Name>walvault</s3:Name>
  <s3:IsTruncated>
    true
  </s3:IsTruncated>
  <s3:NextContinuationToken>next</s3:NextContinuationToken>
  <s3:Contents>
    <s3:Key>wal/x</s3:Key>
    <s3:Size>
      42
    </s3:Size>
  </s3:Contents>
</s3:ListBucketResult>)";

// With encoding-type=url S3 percent-encodes keys (a space as '+').
constexpr const char* k_list_url_encoded = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <EncodingType>url</EncodingType>
  <IsTruncated>false</IsTruncated>
  <Contents><Key>wal/a+b%26c%2Bd%C3%A9%01</Key><Size>7</Size></Contents>
</ListBucketResult>)";

std::vector<std::pair<std::string, uint64_t>> listed(const S3ListPage& page)
{
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const ObjectInfo& o : page.objects)
        out.emplace_back(o.key, o.size);
    return out;
}

using Listing = std::vector<std::pair<std::string, uint64_t>>;

TEST(S3XmlList, AwsExampleComplete)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_aws_list, page));
    EXPECT_EQ(listed(page),
        (Listing{{"my-image.jpg", 434234}, {"wal/0000000100000000/000000010000000000000003.zst", 5368709120ULL}}));
    EXPECT_FALSE(page.truncated);
    EXPECT_EQ(page.next_continuation_token, "");
    // <LastModified>: 2009-10-12T17:50:30.000Z and 2024-05-02T10:11:12.000Z
    ASSERT_EQ(page.objects.size(), 2u);
    EXPECT_EQ(page.objects[0].modified, 1255369830);
    EXPECT_EQ(page.objects[1].modified, 1714644672);
}

TEST(S3XmlList, AwsExampleTruncated)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_aws_list_truncated, page));
    EXPECT_EQ(listed(page),
        (Listing{
            {"happyface.jpg", 11}, {"photos/2006/February/sample2.jpg", 1111}, {"photos/2006/January/sample.jpg", 0}}));
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlList, EmptyBucket)
{
    S3ListPage page;
    page.objects.push_back(ObjectInfo{"stale", 1});  // out is cleared
    page.truncated = true;
    WV_ASSERT_OK(parse_list_objects_v2(k_aws_list_empty, page));
    EXPECT_TRUE(page.objects.empty());
    EXPECT_FALSE(page.truncated);
    EXPECT_EQ(page.next_continuation_token, "");
}

TEST(S3XmlList, KeysNeedingEscapes)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_list_escaped, page));
    EXPECT_EQ(listed(page),
        (Listing{{"a&b<c>d \"e\" 'f'", 1}, {"caf\xC3\xA9/\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 日本", 2}, {"x<&>y", 3},
            {" ", 4}, {"  lead and trail  ", 5}, {"line\nfeed", 6}}));
}

TEST(S3XmlList, S3rverOutput)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_s3rver_list, page));
    EXPECT_EQ(listed(page),
        (Listing{{"repo/wal/0000000100000000/000000010000000000000001.zst", 123456}, {"repo/wal/it's & more", 0}}));
    EXPECT_FALSE(page.truncated);

    WV_ASSERT_OK(parse_list_objects_v2(k_s3rver_list_truncated, page));
    EXPECT_EQ(listed(page), (Listing{{"a", 1}}));
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.next_continuation_token, "1Kb+Qv3x/Zm0Yw==");
}

TEST(S3XmlList, NamespacePrefixAndWhitespace)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_prefixed_list, page));
    EXPECT_EQ(listed(page), (Listing{{"wal/x", 42}}));
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.next_continuation_token, "next");
}

TEST(S3XmlList, UrlEncodedKeys)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(k_list_url_encoded, page));
    EXPECT_EQ(listed(page), (Listing{{"wal/a b&c+d\xC3\xA9\x01", 7}}));
}

TEST(S3XmlList, MissingIsTruncatedFollowsTheToken)
{
    S3ListPage page;
    WV_ASSERT_OK(parse_list_objects_v2(
        "<ListBucketResult><NextContinuationToken>t</NextContinuationToken></ListBucketResult>", page));
    EXPECT_TRUE(page.truncated);
    WV_ASSERT_OK(parse_list_objects_v2("<ListBucketResult/>", page));
    EXPECT_FALSE(page.truncated);
}

TEST(S3XmlList, MalformedIsCorrupt)
{
    struct Case {
        const char* name;
        std::string body;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"empty", "", "the ListObjectsV2 response is empty"},
        {"blank", " \n ", "the ListObjectsV2 response is empty"},
        {"cut short", std::string(k_aws_list).substr(0, 200),
            "the ListObjectsV2 response is not well-formed XML: start-end tags mismatch at offset 199"},
        {"mismatched tags", "<ListBucketResult><Contents><Key>a</Size></Contents></ListBucketResult>",
            "the ListObjectsV2 response is not well-formed XML: start-end tags mismatch at offset 36"},
        {"text only", "Internal Server Error", "the ListObjectsV2 response has no XML element"},
        {"proxy page", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "the ListObjectsV2 response has root element <html>, not <ListBucketResult>"},
        {"other result", "<ListAllMyBucketsResult/>",
            "the ListObjectsV2 response has root element <ListAllMyBucketsResult>, not <ListBucketResult>"},
        {"no key", "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "the ListObjectsV2 response has an object without a <Key>"},
        {"no size", "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
            "the ListObjectsV2 response has no <Size> for \"k\""},
        {"negative size", "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            "the ListObjectsV2 response has an invalid <Size> for \"k\": \"-1\""},
        {"size with unit", "<ListBucketResult><Contents><Key>k</Key><Size>12kB</Size></Contents></ListBucketResult>",
            "the ListObjectsV2 response has an invalid <Size> for \"k\": \"12kB\""},
        {"size too large",
            "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
            "the ListObjectsV2 response has an invalid <Size> for \"k\": \"18446744073709551616\""},
        {"bad boolean", "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
            "the ListObjectsV2 response has an invalid <IsTruncated>: \"maybe\""},
        {"truncated without token", "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "the ListObjectsV2 response is truncated but has no <NextContinuationToken>"},
        {"bad url encoding",
            "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2</Key><Size>1</Size></Contents>"
            "</ListBucketResult>",
            "the ListObjectsV2 response has a badly URL-encoded key \"a%2\""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        S3ListPage page;
        const Status s = parse_list_objects_v2(c.body, page);
        EXPECT_EQ(s.code(), Code::corrupt);
        EXPECT_EQ(s.message(), c.message);
        EXPECT_EQ(s.hint(), "");
    }
}

TEST(S3XmlList, ErrorDocumentIsItsFailure)
{
    S3ListPage page;
    const Status s = parse_list_objects_v2(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
        "<RequestId>656c76696e6727732072657175657374</RequestId></Error>",
        page);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "AccessDenied: Access Denied");
    EXPECT_EQ(s.hint(),
        "Check the credentials (walvault.s3_credentials_file and walvault.s3_profile, "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that the bucket policy "
        "allows this request.");
}

// ---- error documents -----------------------------------------------------------------------------------

// Error documents as S3 sends them: the declaration, a newline, one line of XML.
constexpr const char* k_no_such_key =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not "
    "exist.</Message><Key>wal/0000000100000000/000000010000000000000009.zst</Key><RequestId>4442587FB7D0A2F9</"
    "RequestId><HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>";
// The ErrorResponses page of the API reference, with its <Resource>.
constexpr const char* k_no_such_key_resource = R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchKey</Code>
  <Message>The resource you requested does not exist</Message>
  <Resource>/mybucket/myfoto.jpg</Resource>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>)";
constexpr const char* k_access_denied =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    "<RequestId>8B8XHN7FRZGBJ4RD</RequestId><HostId>pLcqRL9fTPNnmW6GM9HNYCJUx0zsl1Zy6zXCjHB5Q0dLEIbjXjoyIqOtYQmpxw="
    "</HostId></Error>";
constexpr const char* k_invalid_access_key_id =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key "
    "Id you provided does not exist in our records.</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
    "<RequestId>3A0B7C9D1E2F3A4B</RequestId><HostId>ZmFrZWhvc3RpZA==</HostId></Error>";
constexpr const char* k_signature_does_not_match =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
    "signature we calculated does not match the signature you provided. Check your key and signing method."
    "</Message><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n"
    "20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972</StringToSign><SignatureProvided>"
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41</SignatureProvided><StringToSignBytes>41 57 "
    "53 34</StringToSignBytes><CanonicalRequest>GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
    "</CanonicalRequest><CanonicalRequestBytes>47 45 54</CanonicalRequestBytes><RequestId>7C3D4E5F6A7B8C9D"
    "</RequestId><HostId>aG9zdGlk</HostId></Error>";
constexpr const char* k_no_such_bucket =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does "
    "not exist</Message><BucketName>walvault-prod</BucketName><RequestId>1D2E3F4A5B6C7D8E</RequestId><HostId>"
    "aG9zdGlk</HostId></Error>";
constexpr const char* k_permanent_redirect =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are "
    "attempting to access must be addressed using the specified endpoint. Please send all future requests to this "
    "endpoint.</Message><Endpoint>walvault-prod.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>walvault-prod</Bucket>"
    "<RequestId>68D6A3E11776FCC1</RequestId><HostId>aG9zdGlk</HostId></Error>";
constexpr const char* k_authorization_header_malformed =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed</Code><Message>The "
    "authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'</Message><Region>"
    "eu-central-1</Region><RequestId>D5F2662865713BDC</RequestId><HostId>aG9zdGlk</HostId></Error>";
constexpr const char* k_slow_down =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request "
    "rate.</Message><RequestId>5C6D7E8F9A0B1C2D</RequestId><HostId>aG9zdGlk</HostId></Error>";
// s3rver: no RequestId, the details it knows (here the key), he.encode with named references.
constexpr const char* k_s3rver_no_such_key =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not "
    "exist.</Message><Key>repo/wal/it&apos;s</Key></Error>";

TEST(S3XmlS3Error, ParsesDocuments)
{
    struct Case {
        const char* name;
        const char* body;
        S3Error expected;
    };
    const std::vector<Case> cases = {
        {"NoSuchKey", k_no_such_key,
            {"NoSuchKey", "The specified key does not exist.", "", "4442587FB7D0A2F9", "", ""}},
        {"NoSuchKey with resource", k_no_such_key_resource,
            {"NoSuchKey", "The resource you requested does not exist", "/mybucket/myfoto.jpg", "4442587FB7D0A2F9", "",
                ""}},
        {"AccessDenied", k_access_denied, {"AccessDenied", "Access Denied", "", "8B8XHN7FRZGBJ4RD", "", ""}},
        {"InvalidAccessKeyId", k_invalid_access_key_id,
            {"InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", "",
                "3A0B7C9D1E2F3A4B", "", ""}},
        {"SignatureDoesNotMatch", k_signature_does_not_match,
            {"SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and "
                "signing method.",
                "", "7C3D4E5F6A7B8C9D", "", ""}},
        {"NoSuchBucket", k_no_such_bucket,
            {"NoSuchBucket", "The specified bucket does not exist", "", "1D2E3F4A5B6C7D8E", "", ""}},
        {"PermanentRedirect", k_permanent_redirect,
            {"PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified endpoint. Please send "
                "all future requests to this endpoint.",
                "", "68D6A3E11776FCC1", "", "walvault-prod.s3.eu-west-1.amazonaws.com"}},
        {"AuthorizationHeaderMalformed", k_authorization_header_malformed,
            {"AuthorizationHeaderMalformed",
                "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-central-1'", "",
                "D5F2662865713BDC", "eu-central-1", ""}},
        {"SlowDown", k_slow_down, {"SlowDown", "Please reduce your request rate.", "", "5C6D7E8F9A0B1C2D", "", ""}},
        {"s3rver NoSuchKey", k_s3rver_no_such_key, {"NoSuchKey", "The specified key does not exist.", "", "", "", ""}},
        {"indented, namespaced", "<e:Error xmlns:e=\"urn:x\">\n  <e:Code>\n    SlowDown\n  </e:Code>\n</e:Error>",
            {"SlowDown", "", "", "", "", ""}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        S3Error e;
        ASSERT_TRUE(parse_s3_error(c.body, e));
        EXPECT_EQ(e.code, c.expected.code);
        EXPECT_EQ(e.message, c.expected.message);
        EXPECT_EQ(e.resource, c.expected.resource);
        EXPECT_EQ(e.request_id, c.expected.request_id);
        EXPECT_EQ(e.region, c.expected.region);
        EXPECT_EQ(e.endpoint, c.expected.endpoint);
    }
}

TEST(S3XmlS3Error, RejectsOtherBodies)
{
    const std::vector<std::string> bodies = {
        "",
        "\n",
        "<html><body><h1>403 Forbidden</h1></body></html>",
        k_aws_list_empty,
        "<Error><Code>NoSuchKey</Code>",  // cut short
        "<Error><Message>no code</Message></Error>",
        "Forbidden",
    };
    for (const std::string& body : bodies) {
        SCOPED_TRACE(body);
        S3Error e;
        e.code = "stale";
        EXPECT_FALSE(parse_s3_error(body, e));
        EXPECT_EQ(e.code, "");
    }
}

// ---- multipart upload ----------------------------------------------------------------------------------

TEST(S3XmlMultipart, InitiateAwsAndS3rver)
{
    std::string upload_id;
    WV_ASSERT_OK(parse_initiate_multipart(R"(<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket>
  <Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>)",
        upload_id));
    EXPECT_EQ(upload_id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");

    // s3rver: no namespace, one line.
    WV_ASSERT_OK(parse_initiate_multipart(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>walvault</Bucket><Key>"
        "repo/wal/x.zst</Key><UploadId>8a4d7c3e-6f0b-4b0e-9d6e-2d1f3e4a5b6c</UploadId></InitiateMultipartUploadResult>",
        upload_id));
    EXPECT_EQ(upload_id, "8a4d7c3e-6f0b-4b0e-9d6e-2d1f3e4a5b6c");
}

TEST(S3XmlMultipart, InitiateFailures)
{
    std::string upload_id = "stale";
    Status s = parse_initiate_multipart("<InitiateMultipartUploadResult><Bucket>b</Bucket>"
                                        "</InitiateMultipartUploadResult>",
        upload_id);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "the InitiateMultipartUpload response has no <UploadId>");
    EXPECT_EQ(upload_id, "");

    s = parse_initiate_multipart("<InitiateMultipartUploadResult><UploadId>x", upload_id);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "the InitiateMultipartUpload response is not well-formed XML: start-end tags mismatch at offset 41");

    s = parse_initiate_multipart(k_slow_down, upload_id);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "SlowDown: Please reduce your request rate");
    EXPECT_EQ(s.hint(), "The store is throttling requests; try again later.");
}

TEST(S3XmlMultipart, BuildComplete)
{
    EXPECT_EQ(build_complete_multipart({{1, "\"a54357aff0632cce46d942af68356b38\""},
                  {2, "\"0c78aef83f66abc1fa1e8477f296d394\""}, {3, "\"acbd18db4cc2f85cedef654fccc4a4d8\""}}),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>1</PartNumber><ETag>\"a54357aff0632cce46d942af68356b38\"</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>\"0c78aef83f66abc1fa1e8477f296d394\"</ETag></Part>"
        "<Part><PartNumber>3</PartNumber><ETag>\"acbd18db4cc2f85cedef654fccc4a4d8\"</ETag></Part>"
        "</CompleteMultipartUpload>");
    EXPECT_EQ(build_complete_multipart({{10000, "W/\"x&y\""}}),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>10000</PartNumber><ETag>W/\"x&amp;y\"</ETag></Part></CompleteMultipartUpload>");
}

TEST(S3XmlMultipart, CompleteAwsAndS3rver)
{
    std::string etag;
    WV_ASSERT_OK(parse_complete_multipart(R"(<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Location>http://Example-Bucket.s3.us-east-1.amazonaws.com/Example-Object</Location>
  <Bucket>Example-Bucket</Bucket>
  <Key>Example-Object</Key>
  <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
</CompleteMultipartUploadResult>)",
        etag));
    EXPECT_EQ(etag, "\"3858f62230ac3c915f300c664312c11f-9\"");

    WV_ASSERT_OK(parse_complete_multipart(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Location>"
        "http://localhost:4569/walvault/repo/wal/x.zst</Location><Bucket>walvault</Bucket><Key>repo/wal/x.zst</Key>"
        "<ETag>&quot;d8e8fca2dc0f896fd7cb4cb0031ba249-2&quot;</ETag></CompleteMultipartUploadResult>",
        etag));
    EXPECT_EQ(etag, "\"d8e8fca2dc0f896fd7cb4cb0031ba249-2\"");
}

// The API reference: "a 200 OK response can contain either a success or an error"; S3 sends whitespace to
// keep the connection open while it assembles the parts, then the document.
TEST(S3XmlMultipart, CompleteWith200ButErrorFails)
{
    const std::string body = "          \n          \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<Error>\n"
                             "<Code>InternalError</Code>\n<Message>We encountered an internal error. Please try "
                             "again.</Message>\n<RequestId>656c76696e6727732072657175657374</RequestId>\n"
                             "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n</Error>";
    std::string etag = "stale";
    const Status s = parse_complete_multipart(body, etag);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "InternalError: We encountered an internal error. Please try again");
    EXPECT_EQ(s.hint(), "");
    EXPECT_EQ(etag, "");

    S3Error e;
    ASSERT_TRUE(parse_s3_error(body, e));
    EXPECT_TRUE(s3_error_retryable(200, e.code));

    const Status other = parse_complete_multipart(
        "<Error><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found.  The part "
        "may not have been uploaded, or the specified entity tag may not match the part's entity tag.</Message>"
        "</Error>",
        etag);
    EXPECT_EQ(other.code(), Code::io_error);
    EXPECT_EQ(other.message(),
        "InvalidPart: One or more of the specified parts could not be found.  The part may not have been uploaded, or "
        "the specified entity tag may not match the part's entity tag");
    EXPECT_FALSE(s3_error_retryable(200, "InvalidPart"));
}

TEST(S3XmlMultipart, CompleteWithoutEtagIsCorrupt)
{
    std::string etag;
    const Status s = parse_complete_multipart(
        "<CompleteMultipartUploadResult><Bucket>b</Bucket></CompleteMultipartUploadResult>", etag);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "the CompleteMultipartUpload response has no <ETag>");
}

// ---- DeleteObjects -------------------------------------------------------------------------------------

TEST(S3XmlDelete, BuildExactText)
{
    EXPECT_EQ(build_delete_objects({"wal/a.zst", "wal/b&c<d>.zst"}, true),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        "<Object><Key>wal/a.zst</Key></Object><Object><Key>wal/b&amp;c&lt;d&gt;.zst</Key></Object></Delete>");
    EXPECT_EQ(build_delete_objects({"k"}, false),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>k</Key></Object></Delete>");
    EXPECT_EQ(k_s3_delete_batch, 1000u);
}

TEST(S3XmlDelete, KeysRoundTrip)
{
    const std::vector<std::string> keys = {"&<>\"' \xC3\xA9", "  spaced  ", " ", "tab\there", "line\nfeed", "]]>",
        "wal/0000000100000000/000000010000000000000003.zst"};
    const std::string body = build_delete_objects(keys, true);
    EXPECT_NE(body.find("<Key>&amp;&lt;&gt;\"' \xC3\xA9</Key>"), std::string::npos) << body;

    // What S3 reads: a conforming parser, and the keys come back byte for byte.
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_ws_pcdata_single));
    std::vector<std::string> parsed;
    for (const pugi::xml_node& object : doc.child("Delete").children("Object"))
        parsed.push_back(object.child("Key").text().get());
    EXPECT_EQ(parsed, keys);
    EXPECT_STREQ(doc.child("Delete").child("Quiet").text().get(), "true");
}

TEST(S3XmlDelete, ParsesPerKeyErrors)
{
    // The API reference's example (one deleted, one refused), with a second failure and an escaped key.
    const char* body = R"(<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted>
    <Key>sample1.txt</Key>
  </Deleted>
  <Error>
    <Key>sample2.txt</Key>
    <Code>AccessDenied</Code>
    <Message>Access Denied</Message>
  </Error>
  <Error>
    <Key>wal/a&amp;b</Key>
    <VersionId>null</VersionId>
    <Code>InternalError</Code>
    <Message>We encountered an internal error. Please try again.</Message>
  </Error>
</DeleteResult>)";
    std::vector<std::pair<std::string, S3Error>> failed;
    WV_ASSERT_OK(parse_delete_objects(body, failed));
    ASSERT_EQ(failed.size(), 2u);
    EXPECT_EQ(failed[0].first, "sample2.txt");
    EXPECT_EQ(failed[0].second.code, "AccessDenied");
    EXPECT_EQ(failed[0].second.message, "Access Denied");
    EXPECT_EQ(failed[1].first, "wal/a&b");
    EXPECT_EQ(failed[1].second.code, "InternalError");
    EXPECT_EQ(failed[1].second.message, "We encountered an internal error. Please try again.");
}

TEST(S3XmlDelete, QuietSuccessAndS3rver)
{
    std::vector<std::pair<std::string, S3Error>> failed = {{"stale", S3Error{}}};
    WV_ASSERT_OK(parse_delete_objects("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                      "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>",
        failed));
    EXPECT_TRUE(failed.empty());

    // s3rver ignores Quiet and lists every key as deleted.
    WV_ASSERT_OK(parse_delete_objects(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Deleted><Key>repo/wal/a</Key></Deleted><Deleted><Key>repo/wal/b</Key></Deleted></DeleteResult>",
        failed));
    EXPECT_TRUE(failed.empty());
}

TEST(S3XmlDelete, Failures)
{
    std::vector<std::pair<std::string, S3Error>> failed;
    Status s = parse_delete_objects(k_no_such_bucket, failed);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "NoSuchBucket: The specified bucket does not exist");
    EXPECT_EQ(s.hint(),
        "The bucket named in walvault.repo does not exist at this endpoint: create it, or correct "
        "walvault.repo or walvault.s3_endpoint.");

    s = parse_delete_objects("<DeleteResult><Error><Code>AccessDenied</Code></Error></DeleteResult>", failed);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "the DeleteObjects response has an <Error> without a <Key>");
    EXPECT_TRUE(failed.empty());

    s = parse_delete_objects("<DeleteResult>", failed);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "the DeleteObjects response is not well-formed XML: start-end tags mismatch at offset 13");
}

// ---- mapping failures ----------------------------------------------------------------------------------

constexpr const char* k_context =
    "could not upload \"wal/0000000100000000/000000010000000000000003.zst\" to \"s3://bucket/prefix\"";
constexpr const char* k_hint_credentials =
    "Check the credentials (walvault.s3_credentials_file and walvault.s3_profile, AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that the bucket policy allows this request.";
constexpr const char* k_hint_no_bucket = "The bucket named in walvault.repo does not exist at this endpoint: create "
                                         "it, or correct walvault.repo or walvault.s3_endpoint.";
constexpr const char* k_hint_throttled = "The store is throttling requests; try again later.";

TEST(S3XmlS3ErrorStatus, MappingTable)
{
    struct Case {
        long status;
        std::string body;
        std::string region_header;
        Code code;
        std::string message;  // after the context and ": "
        std::string hint;
    };
    const std::vector<Case> cases = {
        {403, k_invalid_access_key_id, "", Code::io_error,
            "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records", k_hint_credentials},
        {403, k_access_denied, "us-east-1", Code::io_error, "AccessDenied: Access Denied", k_hint_credentials},
        {403, k_signature_does_not_match, "", Code::io_error,
            "SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method",
            k_hint_credentials},
        {404, k_no_such_key, "", Code::not_found, "NoSuchKey: The specified key does not exist", ""},
        {404, k_s3rver_no_such_key, "", Code::not_found, "NoSuchKey: The specified key does not exist", ""},
        {404, k_no_such_bucket, "", Code::io_error, "NoSuchBucket: The specified bucket does not exist",
            k_hint_no_bucket},
        {301, k_permanent_redirect, "eu-west-1", Code::io_error,
            "PermanentRedirect: The bucket you are attempting to access must be addressed using the specified "
            "endpoint. Please send all future requests to this endpoint",
            "The bucket is in region \"eu-west-1\": set walvault.s3_region = 'eu-west-1'."},
        {301, k_permanent_redirect, "", Code::io_error,
            "PermanentRedirect: The bucket you are attempting to access must be addressed using the specified "
            "endpoint. Please send all future requests to this endpoint",
            "The bucket must be addressed through endpoint \"walvault-prod.s3.eu-west-1.amazonaws.com\": set "
            "walvault.s3_region to the bucket's region."},
        {400, k_authorization_header_malformed, "", Code::io_error,
            "AuthorizationHeaderMalformed: The authorization header is malformed; the region 'us-east-1' is wrong; "
            "expecting 'eu-central-1'",
            "The bucket is in region \"eu-central-1\": set walvault.s3_region = 'eu-central-1'."},
        {400,
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; a "
            "non-empty Access Key (AKID) must be provided in the credential.</Message></Error>",
            "", Code::io_error,
            "AuthorizationHeaderMalformed: The authorization header is malformed; a non-empty Access Key (AKID) must "
            "be provided in the credential",
            ""},
        {400,
            "<Error><Code>IllegalLocationConstraintException</Code><Message>The ap-east-1 location constraint is "
            "incompatible for the region specific endpoint this request was sent to.</Message></Error>",
            "ap-east-1", Code::io_error,
            "IllegalLocationConstraintException: The ap-east-1 location constraint is incompatible for the region "
            "specific endpoint this request was sent to",
            "The bucket is in region \"ap-east-1\": set walvault.s3_region = 'ap-east-1'."},
        {503, k_slow_down, "", Code::io_error, "SlowDown: Please reduce your request rate", k_hint_throttled},
        {412,
            "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not "
            "hold</Message><Condition>If-None-Match</Condition></Error>",
            "", Code::already_exists,
            "PreconditionFailed: At least one of the pre-conditions you specified did not hold", ""},
        {409,
            "<Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is currently "
            "in progress against this resource. Please try again.</Message></Error>",
            "", Code::busy,
            "ConditionalRequestConflict: A conflicting conditional operation is currently in progress against this "
            "resource. Please try again",
            ""},
        {403,
            "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the "
            "current time is too large.</Message><RequestTime>20240502T101112Z</RequestTime><ServerTime>"
            "2024-05-02T10:41:12Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>"
            "</Error>",
            "", Code::io_error,
            "RequestTimeTooSkewed: The difference between the request time and the current time is too large",
            "The system clock differs too much from the store's (AWS allows 15 minutes); synchronize it, for example "
            "with NTP."},
        {400, "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>", "",
            Code::io_error, "ExpiredToken: The provided token has expired",
            "The temporary credentials have expired; renew the session token."},
        {500,
            "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"
            "</Error>",
            "", Code::io_error, "InternalError: We encountered an internal error. Please try again", ""},
        {400, "<Error><Code>Unusual</Code></Error>", "", Code::io_error, "Unusual (HTTP status 400)", ""},
        // HEAD answers carry no body: the HTTP status and the x-amz-bucket-region header are all there is.
        {403, "", "", Code::io_error, "access denied (HTTP status 403)", k_hint_credentials},
        {404, "", "", Code::not_found, "not found (HTTP status 404)", ""},
        {301, "", "us-west-2", Code::io_error, "moved permanently (HTTP status 301)",
            "The bucket is in region \"us-west-2\": set walvault.s3_region = 'us-west-2'."},
        {301, "", "", Code::io_error, "moved permanently (HTTP status 301)",
            "The bucket is in another region: set walvault.s3_region to the bucket's region."},
        {400, "", "ap-southeast-2", Code::io_error, "bad request (HTTP status 400)",
            "The bucket is in region \"ap-southeast-2\": set walvault.s3_region = 'ap-southeast-2'."},
        {400, "", "", Code::io_error, "bad request (HTTP status 400)", ""},
        {412, "", "", Code::already_exists, "precondition failed (HTTP status 412)", ""},
        {503, "", "", Code::io_error, "service unavailable (HTTP status 503)", k_hint_throttled},
        {429, "", "", Code::io_error, "too many requests (HTTP status 429)", k_hint_throttled},
        {418, "", "", Code::io_error, "HTTP status 418", ""},
        // Something other than S3 answered.
        {502, "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>", "",
            Code::io_error, "bad gateway (HTTP status 502), and the answer is not an S3 error document", ""},
        {404, "404 page not found\n", "", Code::io_error,
            "not found (HTTP status 404), and the answer is not an S3 error document",
            "The server at walvault.s3_endpoint does not answer like an S3 store; check the setting."},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.status) + " " + c.body.substr(0, 80));
        const Status s = s3_error_status(c.status, c.body, c.region_header, k_context);
        EXPECT_EQ(s.code(), c.code);
        EXPECT_EQ(s.message(), std::string(k_context) + ": " + c.message);
        EXPECT_EQ(s.hint(), c.hint);
    }
}

TEST(S3XmlS3ErrorStatus, EmptyContextGivesTheBareText)
{
    const Status s = s3_error_status(404, k_no_such_key, "", "");
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "NoSuchKey: The specified key does not exist");
}

TEST(S3XmlRetry, ClassificationTable)
{
    struct Case {
        long status;
        const char* code;
        bool retryable;
    };
    const Case cases[] = {
        {500, "InternalError", true},
        {500, "", true},
        {502, "", true},
        {503, "SlowDown", true},
        {503, "ServiceUnavailable", true},
        {503, "", true},
        {504, "", true},
        {408, "", true},
        {429, "", true},
        {400, "RequestTimeout", true},
        {200, "InternalError", true},  // CompleteMultipartUpload's 200 with an <Error>
        {200, "SlowDown", true},
        {501, "NotImplemented", false},
        {501, "", false},
        {500, "NotImplemented", false},
        {403, "RequestTimeTooSkewed", false},
        {503, "RequestTimeTooSkewed", false},
        {403, "AccessDenied", false},
        {403, "InvalidAccessKeyId", false},
        {403, "SignatureDoesNotMatch", false},
        {403, "", false},
        {404, "NoSuchKey", false},
        {404, "NoSuchBucket", false},
        {404, "", false},
        {400, "AuthorizationHeaderMalformed", false},
        {400, "ExpiredToken", false},
        {400, "", false},
        {301, "PermanentRedirect", false},
        {409, "ConditionalRequestConflict", false},
        {412, "PreconditionFailed", false},
        {200, "InvalidPart", false},
        {200, "", false},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.status) + " " + c.code);
        EXPECT_EQ(s3_error_retryable(c.status, c.code), c.retryable);
    }
}

}  // namespace
}  // namespace walvault
