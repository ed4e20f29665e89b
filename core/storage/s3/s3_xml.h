// The XML of the S3 REST API that walvault reads and writes: error documents, ListObjectsV2 pages, multipart
// upload and DeleteObjects bodies, and the mapping of a failed S3 response to a Status for users. All XML goes
// through pugixml; elements are matched by local name, so any namespace (or none, as s3rver sends) works.
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace walvault {

constexpr size_t k_s3_delete_batch = 1000;  // S3 limit of keys per DeleteObjects request
constexpr const char* k_s3_xmlns = "http://s3.amazonaws.com/doc/2006-03-01/";

// One <Error> of S3: a whole error document, or one entry of a DeleteObjects result.
struct S3Error {
    std::string code;        // "NoSuchKey", "AccessDenied", ...
    std::string message;     // as S3 wrote it, surrounding whitespace removed
    std::string resource;    // <Resource>, when given
    std::string request_id;  // <RequestId>, for support requests
    std::string region;      // <Region> (AuthorizationHeaderMalformed); else see x-amz-bucket-region
    std::string endpoint;    // <Endpoint> of a PermanentRedirect
};

// One page of ListObjectsV2: objects with their full keys, and where the next page starts.
struct S3ListPage {
    std::vector<ObjectInfo> objects;
    bool truncated = false;
    std::string next_continuation_token;  // not empty when truncated
};

// Reads an S3 error document into out (cleared first). False if xml is not well-formed, its root is not
// <Error> (an empty HEAD body, the HTML page of a proxy, a success document) or it has no <Code>.
bool parse_s3_error(std::string_view xml, S3Error& out);

// The parse_* messages name the response but not the request ("the ListObjectsV2 response is empty"), and an
// <Error> body gives "<Code>: <Message>": callers prefix their context (Status::prefix).

// Reads a ListObjectsV2 result (keys URL-decoded if the store says EncodingType url). Code::corrupt if the
// XML is malformed or lacks a key or size; the mapped error if the body is an <Error> document.
Status parse_list_objects_v2(std::string_view xml, S3ListPage& out);

// Reads the UploadId of an InitiateMultipartUpload result; Code::corrupt if malformed or missing.
Status parse_initiate_multipart(std::string_view xml, std::string& upload_id);

// The CompleteMultipartUpload request body for (part number, ETag as UploadPart returned it, quotes included)
// pairs, in the given order (S3 wants ascending part numbers).
std::string build_complete_multipart(const std::vector<std::pair<int, std::string>>& parts);

// Reads the ETag (quotes included, as sent) of a CompleteMultipartUpload result. S3 may answer 200 OK and
// then an <Error> document: that is a failure with the mapped code (see s3_error_retryable(200, code)).
Status parse_complete_multipart(std::string_view xml, std::string& etag);

// The DeleteObjects request body for at most k_s3_delete_batch keys; with quiet, S3 reports only failures.
// Keys must not hold CR or other control characters but tab and LF: XML 1.0 text cannot carry them.
std::string build_delete_objects(const std::vector<std::string>& keys, bool quiet);

// Reads the per-key failures of a DeleteObjects result into failed (cleared first); deleted keys are
// skipped. Code::corrupt if malformed; the mapped error if the whole body is an <Error> document.
Status parse_delete_objects(std::string_view xml, std::vector<std::pair<std::string, S3Error>>& failed);

// The Status for users of a failed S3 response: "<context>: <Code>: <Message>", or "<context>: <what the
// HTTP status means> (HTTP status N)" without an error document (HEAD). Code::not_found for NoSuchKey or a
// bodiless 404, Code::already_exists for 412 PreconditionFailed, Code::busy for a 409
// ConditionalRequestConflict, Code::io_error otherwise; a hint for credentials, bucket, region, throttling.
Status s3_error_status(
    long http_status, std::string_view body, std::string_view bucket_region_header, const std::string& context);

// Whether sending the same request again may succeed: 5xx but 501, 408, 429, and the codes SlowDown,
// RequestTimeout, InternalError and ServiceUnavailable whatever the status (InternalError comes with 200 in
// CompleteMultipartUpload). Never RequestTimeTooSkewed: the clock we sign with is still wrong on retry.
bool s3_error_retryable(long http_status, std::string_view error_code);

}  // namespace walvault
