// Unit tests for core/storage/s3/sigv4: AWS's published S3 and signing-key examples, the canonical pieces one
// by one, and vectors signed by botocore's S3SigV4Auth (test/unit/data/sigv4_botocore.json, written by
// test/unit/data/make_sigv4_vectors.py).
#include "core/storage/s3/sigv4.h"

#include "core/codec/sha256.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

namespace walvault {
namespace {

using std::chrono::system_clock;

// The credentials, bucket and date of the examples in "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk" (Amazon S3 API reference).
constexpr const char* k_example_access_key = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* k_example_secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* k_example_host = "examplebucket.s3.amazonaws.com";
constexpr const char* k_example_region = "us-east-1";
constexpr long long k_example_unix_time = 1369353600;  // 2013-05-24T00:00:00Z

constexpr const char* k_vectors_relative = "test/unit/data/sigv4_botocore.json";
constexpr size_t k_min_botocore_vectors = 10;  // a truncated file must not pass by having nothing to check

system_clock::time_point at_unix(long long seconds)
{
    return system_clock::time_point{std::chrono::seconds{seconds}};
}

std::string hex_of(const std::string& bytes)
{
    static const char* k_digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += k_digits[c >> 4];
        out += k_digits[c & 0xF];
    }
    return out;
}

SigV4Signed sign_example(SigV4Request request)
{
    request.host = k_example_host;
    return sign_v4(request, SigV4Credentials{k_example_access_key, k_example_secret_key, ""}, k_example_region, "s3",
        at_unix(k_example_unix_time));
}

std::string example_authorization(const std::string& signed_headers, const std::string& signature)
{
    return std::string("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ") +
        "SignedHeaders=" + signed_headers + ", Signature=" + signature;
}

// ---- AWS's published examples ------------------------------------------------------------------------

TEST(SigV4AwsExample, GetObjectWithRange)
{
    const SigV4Signed s = sign_example({"GET", "", "/test.txt", {}, {{"Range", "bytes=0-9"}}, k_sigv4_empty_payload});
    EXPECT_EQ(s.canonical_request,
        "GET\n"
        "/test.txt\n"
        "\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "range:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n"
        "\n"
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(s.string_to_sign,
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    const std::string authorization = example_authorization("host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    EXPECT_EQ(s.authorization, authorization);
    const SigV4Fields expected_headers = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"range", "bytes=0-9"},
        {"x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"x-amz-date", "20130524T000000Z"},
        {"authorization", authorization},
    };
    EXPECT_EQ(s.headers, expected_headers);
}

TEST(SigV4AwsExample, PutObject)
{
    const std::string body = "Welcome to Amazon S3.";
    const std::string payload = sha256_hex(reinterpret_cast<const uint8_t*>(body.data()), body.size());
    ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const SigV4Signed s = sign_example({"PUT", "", "/test$file.text", {},
        {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}, payload});
    EXPECT_EQ(s.canonical_request,
        "PUT\n"
        "/test%24file.text\n"
        "\n"
        "date:Fri, 24 May 2013 00:00:00 GMT\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
        "x-amz-date:20130524T000000Z\n"
        "x-amz-storage-class:REDUCED_REDUNDANCY\n"
        "\n"
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    EXPECT_EQ(s.string_to_sign,
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    EXPECT_EQ(s.authorization,
        example_authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));
}

TEST(SigV4AwsExample, GetBucketLifecycle)
{
    const SigV4Signed s = sign_example({"GET", "", "/", {{"lifecycle", ""}}, {}, k_sigv4_empty_payload});
    EXPECT_EQ(s.canonical_request,
        "GET\n"
        "/\n"
        "lifecycle=\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n"
        "\n"
        "host;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(s.string_to_sign,
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
    EXPECT_EQ(s.authorization,
        example_authorization("host;x-amz-content-sha256;x-amz-date",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
}

TEST(SigV4AwsExample, GetBucketListObjects)
{
    // Given out of order: the canonical query sorts them.
    const SigV4Signed s =
        sign_example({"GET", "", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, k_sigv4_empty_payload});
    EXPECT_EQ(s.canonical_request,
        "GET\n"
        "/\n"
        "max-keys=2&prefix=J\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n"
        "\n"
        "host;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(s.string_to_sign,
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    EXPECT_EQ(s.authorization,
        example_authorization("host;x-amz-content-sha256;x-amz-date",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

// ---- signing key and HMAC ----------------------------------------------------------------------------

TEST(SigV4SigningKey, AwsGeneralReferenceExample)
{
    // "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference).
    EXPECT_EQ(signing_key_hex("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4SigningKey, S3ExampleKey)
{
    EXPECT_EQ(signing_key_hex(k_example_secret_key, "20130524", k_example_region, "s3"),
        "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
    EXPECT_EQ(signing_key(k_example_secret_key, "20130524", k_example_region, "s3").size(), 32u);
}

TEST(SigV4Hmac, Rfc4231Vectors)
{
    // RFC 4231 test case 2 (short key) and test case 6 (key longer than the block, hashed first).
    EXPECT_EQ(hex_of(hmac_sha256("Jefe", "what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hex_of(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(hmac_sha256("", "").size(), 32u);
}

// ---- the canonical pieces ----------------------------------------------------------------------------

TEST(SigV4UriEncode, UnreservedKeptEverythingElseEncodedOnce)
{
    EXPECT_EQ(uri_encode("AZaz09-._~", true), "AZaz09-._~");
    EXPECT_EQ(uri_encode("a b+c=d&e", true), "a%20b%2Bc%3Dd%26e");  // space is %20, never '+'
    EXPECT_EQ(uri_encode("!*'()$,;:@", true), "%21%2A%27%28%29%24%2C%3B%3A%40");
    EXPECT_EQ(uri_encode("%20", true), "%2520");              // already-encoded input is encoded again: inputs are raw
    EXPECT_EQ(uri_encode("caf\xc3\xa9", true), "caf%C3%A9");  // UTF-8 bytes, upper-case hex
    EXPECT_EQ(uri_encode(std::string_view("\0\x7f\xff", 3), true), "%00%7F%FF");
    EXPECT_EQ(uri_encode("a/b", true), "a%2Fb");
    EXPECT_EQ(uri_encode("a/b", false), "a/b");
    EXPECT_EQ(uri_encode("", true), "");
}

TEST(SigV4CanonicalUri, S3KeysAreNotNormalised)
{
    EXPECT_EQ(canonical_uri(""), "/");
    EXPECT_EQ(canonical_uri("/"), "/");
    EXPECT_EQ(canonical_uri("key"), "/key");
    EXPECT_EQ(canonical_uri("/test$file.text"), "/test%24file.text");
    EXPECT_EQ(canonical_uri("/bucket/a//b/./c/../d/"), "/bucket/a//b/./c/../d/");
    EXPECT_EQ(canonical_uri("/pg data/wal 1.zst"), "/pg%20data/wal%201.zst");
}

TEST(SigV4CanonicalQuery, EncodedSortedAndEmptyValuesKept)
{
    EXPECT_EQ(canonical_query_string({}), "");
    EXPECT_EQ(canonical_query_string({{"delete", ""}}), "delete=");
    EXPECT_EQ(
        canonical_query_string({{"uploadId", "a/b+c="}, {"partNumber", "7"}}), "partNumber=7&uploadId=a%2Fb%2Bc%3D");
    // Sorted by the encoded name: "%2F" < "." and "%C3" < "Z" < "z"; repeated names by encoded value.
    EXPECT_EQ(
        canonical_query_string({{"x.y", "1"}, {"x/y", "2"}, {"z", "b"}, {"z", "a"}, {"Z", ""}, {"\xc3\xa9", "3"}}),
        "%C3%A9=3&Z=&x%2Fy=2&x.y=1&z=a&z=b");
    EXPECT_EQ(canonical_query_string({{"prefix", "pg data/x=1+2"}}), "prefix=pg%20data%2Fx%3D1%2B2");
}

TEST(SigV4CanonicalHeaders, LowerCasedTrimmedSortedAndJoined)
{
    const SigV4Fields got = canonical_header_list({
        {"X-Amz-Meta-B", "  two   inner\t\tspaces  "},
        {"Content-Type", "text/plain"},
        {"x-amz-meta-a", "first"},
        {"X-AMZ-META-A", " second "},
        {"x-amz-meta-empty", "   "},
        {"x-amz-meta-crlf", "line\r\n one"},
    });
    const SigV4Fields expected = {
        {"content-type", "text/plain"},
        {"x-amz-meta-a", "first,second"},
        {"x-amz-meta-b", "two inner spaces"},
        {"x-amz-meta-crlf", "line one"},
        {"x-amz-meta-empty", ""},
    };
    EXPECT_EQ(got, expected);
}

TEST(SigV4Date, FormatsUtcAndDropsSubSeconds)
{
    EXPECT_EQ(amz_date(at_unix(k_example_unix_time)), "20130524T000000Z");
    EXPECT_EQ(scope_date(at_unix(k_example_unix_time)), "20130524");
    EXPECT_EQ(amz_date(at_unix(0)), "19700101T000000Z");
    const auto leap_day_end = at_unix(1709251199) + std::chrono::milliseconds(999);  // 2024-02-29T23:59:59.999Z
    EXPECT_EQ(amz_date(leap_day_end), "20240229T235959Z");
    EXPECT_EQ(scope_date(leap_day_end), "20240229");
    EXPECT_EQ(amz_date(at_unix(2147483648)), "20380119T031408Z");                           // past 32-bit time_t
    EXPECT_EQ(amz_date(at_unix(-1) + std::chrono::milliseconds(500)), "19691231T235959Z");  // floors, not rounds
}

TEST(SigV4CredentialScope, JoinsTheFourParts)
{
    EXPECT_EQ(credential_scope("20130524", "us-east-1", "s3"), "20130524/us-east-1/s3/aws4_request");
}

// ---- sign_v4 as a whole ------------------------------------------------------------------------------

TEST(SigV4Sign, SessionTokenIsSignedAndSent)
{
    const SigV4Signed s = sign_v4({"HEAD", "127.0.0.1:9000", "/walbucket/wal/1", {}, {}, k_sigv4_unsigned_payload},
        SigV4Credentials{"AK", "SK", "token/with+chars="}, "us-east-1", "s3", at_unix(k_example_unix_time));
    const SigV4Fields expected_signed = {
        {"host", "127.0.0.1:9000"},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-security-token", "token/with+chars="},
    };
    ASSERT_EQ(s.headers.size(), expected_signed.size() + 1);
    EXPECT_EQ(SigV4Fields(s.headers.begin(), s.headers.end() - 1), expected_signed);
    EXPECT_EQ(s.headers.back(), SigV4Fields::value_type("authorization", s.authorization));
    EXPECT_NE(s.authorization.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "),
        std::string::npos)
        << s.authorization;
    EXPECT_EQ(s.canonical_request.substr(s.canonical_request.rfind('\n') + 1), "UNSIGNED-PAYLOAD");
}

TEST(SigV4Sign, SignerOwnedHeadersReplaceCallerCopies)
{
    const SigV4Request with_copies{"GET", k_example_host, "/test.txt", {},
        {{"Host", "evil.example"}, {"X-Amz-Date", "19990101T000000Z"}, {"x-amz-content-sha256", "0000"},
            {"X-Amz-Security-Token", "stale"}, {"Authorization", "AWS4-HMAC-SHA256 stale"}, {"Range", "bytes=0-9"}},
        k_sigv4_empty_payload};
    const SigV4Signed s = sign_v4(with_copies, SigV4Credentials{k_example_access_key, k_example_secret_key, ""},
        k_example_region, "s3", at_unix(k_example_unix_time));
    // The same signature as the published GET Object example: the copies changed nothing.
    EXPECT_EQ(s.authorization,
        example_authorization("host;range;x-amz-content-sha256;x-amz-date",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
    std::set<std::string> names;
    for (const auto& field : s.headers)
        EXPECT_TRUE(names.insert(field.first).second) << "header sent twice: " << field.first;
}

TEST(SigV4Sign, DependsOnlyOnItsArguments)
{
    const SigV4Request request{"GET", k_example_host, "/test.txt", {}, {}, k_sigv4_empty_payload};
    const SigV4Credentials credentials{k_example_access_key, k_example_secret_key, ""};
    const auto now = at_unix(k_example_unix_time);
    const SigV4Signed first = sign_v4(request, credentials, k_example_region, "s3", now);
    const SigV4Signed again = sign_v4(request, credentials, k_example_region, "s3", now);
    EXPECT_EQ(first.authorization, again.authorization);
    EXPECT_EQ(first.headers, again.headers);
    const SigV4Signed a_second_later =
        sign_v4(request, credentials, k_example_region, "s3", now + std::chrono::seconds(1));
    EXPECT_NE(first.authorization, a_second_later.authorization);
    const SigV4Signed other_region = sign_v4(request, credentials, "eu-central-1", "s3", now);
    EXPECT_NE(other_region.authorization.find("Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-central-1/s3/aws4_request"),
        std::string::npos);
}

// ---- botocore's signer -------------------------------------------------------------------------------

std::string vectors_path()
{
    const char* source_dir = std::getenv("WALVAULT_SOURCE_DIR");
    if (source_dir != nullptr && *source_dir != '\0')
        return std::string(source_dir) + "/" + k_vectors_relative;
    return k_vectors_relative;
}

SigV4Fields fields_of(const nlohmann::json& pairs)
{
    SigV4Fields out;
    for (const auto& pair : pairs)
        out.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    return out;
}

TEST(SigV4Botocore, MatchesEveryVector)
{
    const std::string path = vectors_path();
    std::ifstream in(path);
    ASSERT_TRUE(in) << "could not open \"" << path
                    << "\": run the tests from the source tree or set WALVAULT_SOURCE_DIR to it";
    const nlohmann::json document = nlohmann::json::parse(in);
    const nlohmann::json& vectors = document.at("vectors");
    ASSERT_GE(vectors.size(), k_min_botocore_vectors);

    for (const auto& vector : vectors) {
        SCOPED_TRACE(vector.at("name").get<std::string>());
        const nlohmann::json& input = vector.at("input");
        const nlohmann::json& expected = vector.at("botocore");
        const SigV4Request request{input.at("method").get<std::string>(), input.at("host").get<std::string>(),
            input.at("path").get<std::string>(), fields_of(input.at("query")), fields_of(input.at("headers")),
            input.at("payload_sha256").get<std::string>()};
        const SigV4Credentials credentials{input.at("access_key_id").get<std::string>(),
            input.at("secret_access_key").get<std::string>(), input.at("session_token").get<std::string>()};
        const auto now = at_unix(input.at("unix_time").get<long long>());

        const SigV4Signed s = sign_v4(
            request, credentials, input.at("region").get<std::string>(), input.at("service").get<std::string>(), now);
        EXPECT_EQ(amz_date(now), expected.at("amz_date").get<std::string>());
        EXPECT_EQ(s.canonical_request, expected.at("canonical_request").get<std::string>());
        EXPECT_EQ(s.string_to_sign, expected.at("string_to_sign").get<std::string>());
        EXPECT_EQ(s.authorization, expected.at("authorization").get<std::string>());

        // Every header botocore would send, we send too (botocore leaves host to its HTTP client).
        std::set<std::string> ours;
        for (const auto& field : s.headers)
            ours.insert(field.first);
        for (const auto& [name, value] : fields_of(expected.at("headers"))) {
            std::string lower = name;
            for (char& c : lower)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            EXPECT_TRUE(ours.count(lower)) << "botocore sends \"" << name << "\" and we do not";
        }
        EXPECT_TRUE(ours.count("host"));
    }
}

}  // namespace
}  // namespace walvault
