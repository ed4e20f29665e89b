// AWS Signature Version 4 for S3: canonical request, string to sign, signing key and signature, each a small
// pure function; HMAC-SHA256 and SHA-256 come from OpenSSL.
#include "core/storage/s3/sigv4.h"

#include "core/common/text.h"

#include "core/codec/sha256.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <new>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace walvault {
namespace {

constexpr const char* k_hex_upper = "0123456789ABCDEF";  // percent-encoding uses upper case (RFC 3986 2.1)
constexpr const char* k_key_prefix = "AWS4";

// Headers whose value only the signer knows; a caller's copy would be signed twice or contradict ours.
constexpr std::string_view k_signer_owned[] = {
    "authorization", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"};

bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~';
}

// SigV4 "Trimall" collapses runs of spaces; botocore collapses any whitespace (Python's str.split()), so tabs,
// CR and LF count too. Collapsing CR/LF also keeps a value from splitting the header block it is sent in.
bool is_header_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string trim_all(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (char c : value) {
        if (is_header_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space)
            out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

bool is_signer_owned(const std::string& lower_name)
{
    return std::find(std::begin(k_signer_owned), std::end(k_signer_owned), lower_name) != std::end(k_signer_owned);
}

std::string sha256_of(std::string_view text)
{
    return sha256_hex(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

std::string uri_encode(std::string_view text, bool encode_slash)
{
    std::string out;
    out.reserve(text.size() * 3);
    for (unsigned char c : text) {
        if (is_unreserved(c) || (c == '/' && !encode_slash)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex_upper[c >> 4];
            out += k_hex_upper[c & 0xF];
        }
    }
    return out;
}

std::string canonical_uri(std::string_view raw_path)
{
    // No normalisation: unlike other services, S3 signs the key exactly as named.
    if (raw_path.empty() || raw_path.front() != '/')
        return "/" + uri_encode(raw_path, false);
    return uri_encode(raw_path, false);
}

std::string canonical_query_string(const SigV4Fields& query)
{
    // Sorting happens after encoding: "x/y" (x%2Fy) comes before "x.y", "é" (%C3%A9) before "Z".
    SigV4Fields encoded;
    encoded.reserve(query.size());
    for (const auto& [name, value] : query)
        encoded.emplace_back(uri_encode(name, true), uri_encode(value, true));
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty())
            out += '&';
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

SigV4Fields canonical_header_list(const SigV4Fields& headers)
{
    SigV4Fields fields;
    fields.reserve(headers.size());
    for (const auto& [name, value] : headers)
        fields.emplace_back(to_lower_ascii(name), trim_all(value));
    // Stable, so that repeated names keep their order when joined.
    std::stable_sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    SigV4Fields merged;
    for (auto& field : fields) {
        if (!merged.empty() && merged.back().first == field.first)
            merged.back().second += "," + field.second;
        else
            merged.push_back(std::move(field));
    }
    return merged;
}

std::string amz_date(std::chrono::system_clock::time_point when)
{
    using namespace std::chrono;
    const auto seconds = floor<std::chrono::seconds>(when);
    const auto day = floor<days>(seconds);
    const year_month_day ymd{day};
    const hh_mm_ss hms{seconds - day};
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
        static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    return buf;
}

std::string scope_date(std::chrono::system_clock::time_point when)
{
    return amz_date(when).substr(0, 8);
}

std::string credential_scope(std::string_view date, std::string_view region, std::string_view service)
{
    std::string out;
    out.append(date).append("/").append(region).append("/").append(service).append("/").append(k_sigv4_terminator);
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data)
{
    if (key.size() > static_cast<size_t>(INT_MAX))
        throw std::length_error("HMAC key too long");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &len) == nullptr)
        throw std::bad_alloc();
    return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string signing_key(
    std::string_view secret_access_key, std::string_view date, std::string_view region, std::string_view service)
{
    std::string key = k_key_prefix;
    key.append(secret_access_key);
    key = hmac_sha256(key, date);
    key = hmac_sha256(key, region);
    key = hmac_sha256(key, service);
    return hmac_sha256(key, k_sigv4_terminator);
}

std::string signing_key_hex(
    std::string_view secret_access_key, std::string_view date, std::string_view region, std::string_view service)
{
    return hex_encode(signing_key(secret_access_key, date, region, service));
}

SigV4Signed sign_v4(const SigV4Request& request, const SigV4Credentials& credentials, const std::string& region,
    const std::string& service, std::chrono::system_clock::time_point now)
{
    const std::string date_time = amz_date(now);
    const std::string date = date_time.substr(0, 8);
    const std::string scope = credential_scope(date, region, service);

    SigV4Fields to_sign;
    to_sign.reserve(request.headers.size() + 4);
    for (const auto& field : request.headers)
        if (!is_signer_owned(to_lower_ascii(field.first)))
            to_sign.push_back(field);
    to_sign.emplace_back("host", request.host);
    to_sign.emplace_back("x-amz-content-sha256", request.payload_sha256);
    to_sign.emplace_back("x-amz-date", date_time);
    if (!credentials.session_token.empty())
        to_sign.emplace_back("x-amz-security-token", credentials.session_token);

    // One sorted list feeds both the canonical headers and SignedHeaders, so they cannot disagree.
    SigV4Signed out;
    out.headers = canonical_header_list(to_sign);
    std::string canonical_headers;
    std::string signed_headers;
    for (const auto& [name, value] : out.headers) {
        canonical_headers.append(name).append(":").append(value).append("\n");
        if (!signed_headers.empty())
            signed_headers += ';';
        signed_headers += name;
    }

    out.canonical_request = request.method + "\n" + canonical_uri(request.path) + "\n" +
        canonical_query_string(request.query) + "\n" + canonical_headers + "\n" + signed_headers + "\n" +
        request.payload_sha256;
    out.string_to_sign =
        std::string(k_sigv4_algorithm) + "\n" + date_time + "\n" + scope + "\n" + sha256_of(out.canonical_request);
    const std::string signature =
        hex_encode(hmac_sha256(signing_key(credentials.secret_access_key, date, region, service), out.string_to_sign));
    // ", " between the parts, as botocore and the AWS CLI send it; S3 accepts "," alone as well.
    out.authorization = std::string(k_sigv4_algorithm) + " Credential=" + credentials.access_key_id + "/" + scope +
        ", SignedHeaders=" + signed_headers + ", Signature=" + signature;
    out.headers.emplace_back("authorization", out.authorization);
    return out;
}

}  // namespace walvault
