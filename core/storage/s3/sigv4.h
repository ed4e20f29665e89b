// AWS Signature Version 4 for S3 requests (Authorization header, single-chunk payload), as pure functions:
// the clock and the payload hash come in as arguments, so a fixed date gives the exact header AWS documents.
// Reference: "Signature Calculations for the Authorization Header" in the Amazon S3 API reference.
#pragma once

#include "core/common/status.h"  // for its guard: no PostgreSQL headers in core/

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace walvault {

// Name/value pairs in order: query parameters or HTTP header fields.
using SigV4Fields = std::vector<std::pair<std::string, std::string>>;

constexpr const char* k_sigv4_algorithm = "AWS4-HMAC-SHA256";
constexpr const char* k_sigv4_terminator = "aws4_request";
// x-amz-content-sha256 when the body is not hashed and the hash of an empty body.
constexpr const char* k_sigv4_unsigned_payload = "UNSIGNED-PAYLOAD";
constexpr const char* k_sigv4_empty_payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SigV4Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // empty unless the credentials are temporary (STS)
};

struct SigV4Request {
    std::string method;   // "GET", "PUT", ...
    std::string host;     // the Host header exactly as sent: "bucket.s3.us-east-1.amazonaws.com", "127.0.0.1:9000"
    std::string path;     // raw, unencoded, starting with '/': "/bucket/wal/000000010000000000000001"
    SigV4Fields query;    // raw, unencoded names and values; a value-less parameter ("?delete") has value ""
    SigV4Fields headers;  // further headers to sign and send (range, content-md5, x-amz-*); names in any case
    std::string payload_sha256;  // lower-case hex of the body, or k_sigv4_unsigned_payload
};

struct SigV4Signed {
    SigV4Fields headers;  // every header to send, Authorization last; names lower case, values as signed
    std::string canonical_request;
    std::string string_to_sign;
    std::string authorization;
};

// Signs a request for region and service ("s3") at time now. host, x-amz-date, x-amz-content-sha256,
// x-amz-security-token and authorization are the signer's: copies of them in request.headers are dropped.
SigV4Signed sign_v4(const SigV4Request& request, const SigV4Credentials& credentials, const std::string& region,
    const std::string& service, std::chrono::system_clock::time_point now);

// ---- the pieces, exposed for the tests ----------------------------------------------------------------

// RFC 3986 percent-encoding of every byte outside A-Z a-z 0-9 - . _ ~ (upper-case hex); '/' is kept when
// encode_slash is false, which is how S3 wants object paths (encoded once, never twice).
std::string uri_encode(std::string_view text, bool encode_slash);

// The canonical URI of a raw path: encoded once with '/' kept, a leading '/' added if missing ("" is "/");
// no dot-segment removal or slash merging, since "a/./b" and "a//b" are distinct S3 keys.
std::string canonical_uri(std::string_view raw_path);

// Parameters encoded, sorted by encoded name then encoded value, joined as "a=1&b=&c=3".
std::string canonical_query_string(const SigV4Fields& query);

// Names lower-cased; values trimmed, inner runs of whitespace (space, tab, CR, LF) made one space; repeated
// names joined with ',' in their given order; sorted by name. Canonical headers and SignedHeaders both use it.
SigV4Fields canonical_header_list(const SigV4Fields& headers);

// "20130524T000000Z": the x-amz-date of a time point (UTC, sub-second part dropped).
std::string amz_date(std::chrono::system_clock::time_point when);

// "20130524": the date of the credential scope.
std::string scope_date(std::chrono::system_clock::time_point when);

// "20130524/us-east-1/s3/aws4_request".
std::string credential_scope(std::string_view date, std::string_view region, std::string_view service);

// Raw 32-byte HMAC-SHA256 of data under key (OpenSSL).
std::string hmac_sha256(std::string_view key, std::string_view data);

// Raw signing key: HMAC chain of "AWS4" + secret over date ("20130524"), region, service, "aws4_request".
std::string signing_key(
    std::string_view secret_access_key, std::string_view date, std::string_view region, std::string_view service);

// The same key in lower-case hex, as AWS's examples print it.
std::string signing_key_hex(
    std::string_view secret_access_key, std::string_view date, std::string_view region, std::string_view service);

}  // namespace walvault
