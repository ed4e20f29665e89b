// S3 XML with pugixml: reading responses by local element name, writing request bodies, and turning an S3
// failure into a Status with a hint. No XML is assembled or taken apart by hand here.
#include "core/storage/s3/s3_xml.h"

#include "core/common/text.h"
#include "core/common/utc_time.h"

#include <charconv>
#include <cstdint>
#include <system_error>

#include <pugixml.hpp>

namespace walvault {
namespace {

// Whitespace-only text is kept when it is an element's only content, so a key of one space survives, while
// the indentation between elements is still dropped. Everything else is pugixml's default: entities and
// character references decoded, CDATA read, line ends normalized (as XML requires); no DTD is processed.
constexpr unsigned k_parse_flags = pugi::parse_default | pugi::parse_ws_pcdata_single;

// Settings and variables the hints name.
constexpr const char* k_credentials_hint =
    "Check the credentials (walvault.s3_credentials_file and walvault.s3_profile, AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that the bucket policy allows this request.";
constexpr const char* k_no_bucket_hint = "The bucket named in walvault.repo does not exist at this endpoint: create "
                                         "it, or correct walvault.repo or walvault.s3_endpoint.";
constexpr const char* k_throttled_hint = "The store is throttling requests; try again later.";
constexpr const char* k_clock_hint = "The system clock differs too much from the store's (AWS allows 15 minutes); "
                                     "synchronize it, for example with NTP.";
constexpr const char* k_expired_token_hint = "The temporary credentials have expired; renew the session token.";
constexpr const char* k_not_s3_hint =
    "The server at walvault.s3_endpoint does not answer like an S3 store; check the setting.";

// The HTTP statuses S3 uses, for messages about answers without an error document.
struct HttpReason {
    long status;
    const char* text;
};
constexpr HttpReason k_http_reasons[] = {
    {301, "moved permanently"},
    {307, "temporary redirect"},
    {400, "bad request"},
    {403, "access denied"},
    {404, "not found"},
    {405, "method not allowed"},
    {408, "request timeout"},
    {409, "conflict"},
    {411, "length required"},
    {412, "precondition failed"},
    {416, "range not satisfiable"},
    {429, "too many requests"},
    {500, "internal server error"},
    {501, "not implemented"},
    {502, "bad gateway"},
    {503, "service unavailable"},
    {504, "gateway timeout"},
};

// Error codes after which the same request may succeed, whatever the HTTP status: S3 sends InternalError
// with 200 in CompleteMultipartUpload, and RequestTimeout (the request body came too slowly) with 400.
constexpr std::string_view k_retryable_codes[] = {"InternalError", "RequestTimeout", "ServiceUnavailable", "SlowDown"};
// Error codes that fail again on retry even under a 5xx status.
constexpr std::string_view k_final_codes[] = {"NotImplemented", "RequestTimeTooSkewed"};

bool is_one_of(std::string_view value, const auto& list)
{
    for (std::string_view item : list)
        if (value == item)
            return true;
    return false;
}

std::string_view trimmed(std::string_view text)
{
    return trim(text, " \t\r\n");  // XML white space
}

// The name without a namespace prefix: "s3:Key" and "Key" are both "Key".
std::string_view local_name(const pugi::xml_node& node)
{
    const std::string_view name = node.name();
    const size_t colon = name.rfind(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool is_element(const pugi::xml_node& node, std::string_view name)
{
    return node.type() == pugi::node_element && local_name(node) == name;
}

pugi::xml_node child_element(const pugi::xml_node& parent, std::string_view name)
{
    for (const pugi::xml_node& node : parent.children())
        if (is_element(node, name))
            return node;
    return pugi::xml_node();
}

// All character data of an element, text and CDATA sections alike, exactly as decoded.
std::string text_of(const pugi::xml_node& element)
{
    std::string out;
    for (const pugi::xml_node& node : element.children())
        if (node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata)
            out += node.value();
    return out;
}

std::string child_text(const pugi::xml_node& parent, std::string_view name)
{
    return text_of(child_element(parent, name));
}

// Codes, messages, numbers and booleans may be indented by a pretty-printing server; keys, tokens, upload
// ids and ETags are opaque and kept byte for byte.
std::string child_trimmed(const pugi::xml_node& parent, std::string_view name)
{
    return std::string(trimmed(child_text(parent, name)));
}

Status corrupt(std::string message)
{
    return Status::error(Code::corrupt, std::move(message));
}

// Loads a response body; what names it in messages ("ListObjectsV2").
Status load(std::string_view xml, std::string_view what, pugi::xml_document& doc)
{
    const std::string response = "the " + std::string(what) + " response";
    if (trimmed(xml).empty())
        return corrupt(response + " is empty");
    const pugi::xml_parse_result result = doc.load_buffer(xml.data(), xml.size(), k_parse_flags, pugi::encoding_auto);
    if (result.status == pugi::status_no_document_element)
        return corrupt(response + " has no XML element");
    if (!result) {
        std::string description = result.description();
        if (!description.empty() && description[0] >= 'A' && description[0] <= 'Z')
            description[0] = static_cast<char>(description[0] - 'A' + 'a');
        return corrupt(
            response + " is not well-formed XML: " + description + " at offset " + std::to_string(result.offset));
    }
    return Status::ok();
}

void read_error(const pugi::xml_node& error, S3Error& out)
{
    out.code = child_trimmed(error, "Code");
    out.message = child_trimmed(error, "Message");
    out.resource = child_trimmed(error, "Resource");
    out.request_id = child_trimmed(error, "RequestId");
    out.region = child_trimmed(error, "Region");
    out.endpoint = child_trimmed(error, "Endpoint");
}

std::string without_final_period(std::string_view text)
{
    if (!text.empty() && text.back() == '.')
        text.remove_suffix(1);
    return std::string(text);
}

std::string http_status_text(long http_status)
{
    std::string number = "HTTP status " + std::to_string(http_status);
    for (const HttpReason& reason : k_http_reasons)
        if (reason.status == http_status)
            return std::string(reason.text) + " (" + number + ")";
    return number;
}

std::string region_hint(std::string_view region, std::string_view endpoint)
{
    if (!region.empty()) {
        const std::string r(region);
        return "The bucket is in region \"" + r + "\": set walvault.s3_region = '" + r + "'.";
    }
    if (!endpoint.empty())
        return "The bucket must be addressed through endpoint \"" + std::string(endpoint) +
            "\": set walvault.s3_region to the bucket's region.";
    return "The bucket is in another region: set walvault.s3_region to the bucket's region.";
}

// The Status of a failure. error is null when the answer has no S3 error document; other_body tells whether
// it had some other body instead (the HTML of a proxy, say).
Status failure_status(
    long http_status, const S3Error* error, bool other_body, std::string_view region_header, const std::string& context)
{
    const std::string_view code = error != nullptr ? std::string_view(error->code) : std::string_view();
    const std::string region = error != nullptr && !error->region.empty() ? error->region : std::string(region_header);

    std::string text;
    if (error != nullptr) {
        const std::string message = without_final_period(error->message);
        text = error->code + (message.empty() ? " (HTTP status " + std::to_string(http_status) + ")" : ": " + message);
    } else {
        text = http_status_text(http_status);
        if (other_body)
            text += ", and the answer is not an S3 error document";
    }

    // A bodiless 404 is how HEAD says "no such key"; a 404 with some other body did not come from S3, and
    // calling it not_found could end a recovery early at a misconfigured endpoint.
    Code result = Code::io_error;
    if (code == "NoSuchKey" || (error == nullptr && !other_body && http_status == 404))
        result = Code::not_found;
    else if (code == "PreconditionFailed" || (error == nullptr && http_status == 412))
        result = Code::already_exists;
    else if (code == "ConditionalRequestConflict")  // 409: a concurrent conditional write of the same key
        result = Code::busy;

    std::string hint;
    if (code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
        (error == nullptr && http_status == 403))
        hint = k_credentials_hint;
    else if (code == "NoSuchBucket")
        hint = k_no_bucket_hint;
    else if (code == "PermanentRedirect" || code == "IllegalLocationConstraintException" ||
        (code == "AuthorizationHeaderMalformed" && !region.empty()))
        hint = region_hint(region, error->endpoint);
    else if (error == nullptr && (http_status == 301 || (http_status == 400 && !region.empty())))
        hint = region_hint(region, "");  // HEAD to the wrong region: 301, or 400 with x-amz-bucket-region
    else if (code == "SlowDown" || http_status == 503 || http_status == 429)
        hint = k_throttled_hint;
    else if (code == "RequestTimeTooSkewed")
        hint = k_clock_hint;
    else if (code == "ExpiredToken")
        hint = k_expired_token_hint;
    else if (error == nullptr && other_body && http_status == 404)
        hint = k_not_s3_hint;

    return Status::error(result, context.empty() ? text : context + ": " + text, hint);
}

// Loads a response whose root must be root_name. An <Error> root (S3 may send one with 200 OK) becomes its
// mapped failure; any other root is corrupt.
Status load_result(std::string_view xml, std::string_view what, std::string_view root_name, pugi::xml_document& doc,
    pugi::xml_node& root)
{
    Status s = load(xml, what, doc);
    if (!s.is_ok())
        return s;
    root = doc.document_element();
    if (is_element(root, "Error")) {
        S3Error error;
        read_error(root, error);
        if (!error.code.empty())
            return failure_status(200, &error, false, "", "");
    }
    if (!is_element(root, root_name))
        return corrupt("the " + std::string(what) + " response has root element <" + root.name() + ">, not <" +
            std::string(root_name) + ">");
    return Status::ok();
}

bool parse_uint64(std::string_view text, uint64_t& out)
{
    text = trimmed(text);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// xs:boolean, as S3 writes IsTruncated.
bool parse_bool(std::string_view text, bool& out)
{
    text = trimmed(text);
    if (text == "true" || text == "1")
        out = true;
    else if (text == "false" || text == "0")
        out = false;
    else
        return false;
    return true;
}

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Undoes encoding-type=url: %XX escapes, and '+' for a space as S3 writes it (botocore decodes the same way).
bool url_decode(std::string_view text, std::string& out)
{
    out.clear();
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%') {
            if (i + 2 >= text.size())
                return false;
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high < 0 || low < 0)
                return false;
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return true;
}

// Collects what pugixml writes into a string.
class StringWriter : public pugi::xml_writer {
public:
    void write(const void* data, size_t size) override { m_out.append(static_cast<const char*>(data), size); }
    std::string take() { return std::move(m_out); }

private:
    std::string m_out;
};

// A request document: the UTF-8 declaration and a root element in the S3 namespace.
pugi::xml_node start_request(pugi::xml_document& doc, const char* root_name)
{
    pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
    pugi::xml_node root = doc.append_child(root_name);
    root.append_attribute("xmlns") = k_s3_xmlns;
    return root;
}

void append_text_element(pugi::xml_node& parent, const char* name, std::string_view text)
{
    parent.append_child(name).append_child(pugi::node_pcdata).set_value(text.data(), text.size());
}

// One line, no indentation: the bytes are what Content-MD5 covers, so they must not depend on formatting.
std::string finish_request(const pugi::xml_document& doc)
{
    StringWriter writer;
    doc.save(writer, "", pugi::format_raw, pugi::encoding_utf8);
    return writer.take();
}

}  // namespace

bool parse_s3_error(std::string_view xml, S3Error& out)
{
    out = S3Error{};
    if (trimmed(xml).empty())
        return false;
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size(), k_parse_flags, pugi::encoding_auto))
        return false;
    const pugi::xml_node root = doc.document_element();
    if (!is_element(root, "Error"))
        return false;
    read_error(root, out);
    if (out.code.empty()) {
        out = S3Error{};
        return false;
    }
    return true;
}

Status parse_list_objects_v2(std::string_view xml, S3ListPage& out)
{
    out = S3ListPage{};
    pugi::xml_document doc;
    pugi::xml_node root;
    Status s = load_result(xml, "ListObjectsV2", "ListBucketResult", doc, root);
    if (!s.is_ok())
        return s;

    const bool url_encoded = child_trimmed(root, "EncodingType") == "url";
    for (const pugi::xml_node& contents : root.children()) {
        if (!is_element(contents, "Contents"))
            continue;
        const pugi::xml_node key_element = child_element(contents, "Key");
        ObjectInfo object;
        object.key = text_of(key_element);
        if (url_encoded) {
            std::string decoded;
            if (!url_decode(object.key, decoded))
                return corrupt("the ListObjectsV2 response has a badly URL-encoded key \"" + object.key + "\"");
            object.key = std::move(decoded);
        }
        if (object.key.empty())
            return corrupt("the ListObjectsV2 response has an object without a <Key>");
        const pugi::xml_node size_element = child_element(contents, "Size");
        if (!size_element)
            return corrupt("the ListObjectsV2 response has no <Size> for \"" + object.key + "\"");
        if (!parse_uint64(text_of(size_element), object.size))
            return corrupt("the ListObjectsV2 response has an invalid <Size> for \"" + object.key + "\": \"" +
                text_of(size_element) + "\"");
        // Not needed to read the repository: an unreadable time is left 0 rather than failing the listing.
        if (int64_t when = 0; parse_utc_time(child_text(contents, "LastModified"), when).is_ok())
            object.modified = when;
        out.objects.push_back(std::move(object));
    }

    out.next_continuation_token = child_text(root, "NextContinuationToken");
    const pugi::xml_node truncated = child_element(root, "IsTruncated");
    if (!truncated)
        out.truncated = !out.next_continuation_token.empty();  // S3 always sends it; a token says it all
    else if (!parse_bool(text_of(truncated), out.truncated))
        return corrupt("the ListObjectsV2 response has an invalid <IsTruncated>: \"" + text_of(truncated) + "\"");
    if (out.truncated && out.next_continuation_token.empty())
        return corrupt("the ListObjectsV2 response is truncated but has no <NextContinuationToken>");
    return Status::ok();
}

Status parse_initiate_multipart(std::string_view xml, std::string& upload_id)
{
    upload_id.clear();
    pugi::xml_document doc;
    pugi::xml_node root;
    Status s = load_result(xml, "InitiateMultipartUpload", "InitiateMultipartUploadResult", doc, root);
    if (!s.is_ok())
        return s;
    upload_id = child_text(root, "UploadId");
    if (upload_id.empty())
        return corrupt("the InitiateMultipartUpload response has no <UploadId>");
    return Status::ok();
}

std::string build_complete_multipart(const std::vector<std::pair<int, std::string>>& parts)
{
    pugi::xml_document doc;
    pugi::xml_node root = start_request(doc, "CompleteMultipartUpload");
    for (const auto& [number, etag] : parts) {
        pugi::xml_node part = root.append_child("Part");
        append_text_element(part, "PartNumber", std::to_string(number));
        append_text_element(part, "ETag", etag);
    }
    return finish_request(doc);
}

Status parse_complete_multipart(std::string_view xml, std::string& etag)
{
    etag.clear();
    pugi::xml_document doc;
    pugi::xml_node root;
    Status s = load_result(xml, "CompleteMultipartUpload", "CompleteMultipartUploadResult", doc, root);
    if (!s.is_ok())
        return s;
    etag = child_text(root, "ETag");
    if (etag.empty())
        return corrupt("the CompleteMultipartUpload response has no <ETag>");
    return Status::ok();
}

std::string build_delete_objects(const std::vector<std::string>& keys, bool quiet)
{
    pugi::xml_document doc;
    pugi::xml_node root = start_request(doc, "Delete");
    if (quiet)
        append_text_element(root, "Quiet", "true");
    for (const std::string& key : keys) {
        pugi::xml_node object = root.append_child("Object");
        append_text_element(object, "Key", key);
    }
    return finish_request(doc);
}

Status parse_delete_objects(std::string_view xml, std::vector<std::pair<std::string, S3Error>>& failed)
{
    failed.clear();
    pugi::xml_document doc;
    pugi::xml_node root;
    Status s = load_result(xml, "DeleteObjects", "DeleteResult", doc, root);
    if (!s.is_ok())
        return s;
    for (const pugi::xml_node& entry : root.children()) {
        if (!is_element(entry, "Error"))
            continue;
        std::string key = child_text(entry, "Key");
        if (key.empty()) {
            failed.clear();
            return corrupt("the DeleteObjects response has an <Error> without a <Key>");
        }
        S3Error error;
        read_error(entry, error);
        failed.emplace_back(std::move(key), std::move(error));
    }
    return Status::ok();
}

Status s3_error_status(
    long http_status, std::string_view body, std::string_view bucket_region_header, const std::string& context)
{
    S3Error error;
    if (parse_s3_error(body, error))
        return failure_status(http_status, &error, false, bucket_region_header, context);
    return failure_status(http_status, nullptr, !trimmed(body).empty(), bucket_region_header, context);
}

bool s3_error_retryable(long http_status, std::string_view error_code)
{
    if (is_one_of(error_code, k_retryable_codes))
        return true;
    if (is_one_of(error_code, k_final_codes))
        return false;
    // 501: S3 does not implement what a header asked for, and will not on the next attempt either.
    if (http_status >= 500 && http_status <= 599)
        return http_status != 501;
    return http_status == 408 || http_status == 429;
}

}  // namespace walvault
