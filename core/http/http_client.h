// HTTP for the object-store backends and credential endpoints: one libcurl easy handle per client
// (connection reuse, keep-alive), timeouts on every request, TLS verified by default, and the retry policy
// (bounded attempts, exponential backoff with jitter, only for errors worth retrying).
#pragma once

#include "core/common/byte_sink.h"
#include "core/common/status.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

typedef void CURL;

namespace walvault {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

constexpr auto k_http_connect_timeout = std::chrono::seconds(10);
constexpr auto k_http_request_timeout = std::chrono::seconds(120);  // whole request, 16 MiB on a slow link
constexpr long k_http_low_speed_bytes = 1024;                       // abort if slower than this ...
constexpr auto k_http_low_speed_time = std::chrono::seconds(30);    // ... for this long

struct HttpOptions {
    std::chrono::milliseconds connect_timeout = k_http_connect_timeout;
    std::chrono::milliseconds request_timeout = k_http_request_timeout;
    std::string ca_file;     // PEM bundle for a private CA; empty = the system's
    bool verify_tls = true;  // only tests with their own CA file turn this off
    bool no_proxy = false;   // bypass http_proxy & co: for link-local credential endpoints and their tokens
};

struct HttpRequest {
    std::string method;  // GET, PUT, HEAD, POST, DELETE
    std::string url;     // fully encoded
    HttpHeaders headers;
    // The body: body_len bytes from memory at body, or, when body_fd >= 0, from that file at body_offset
    // (read with pread, so the file's own offset is left alone and the caller may keep writing it).
    const uint8_t* body = nullptr;
    size_t body_len = 0;
    int body_fd = -1;
    uint64_t body_offset = 0;
    const ByteSink* sink = nullptr;  // GET bodies of 2xx responses stream here; otherwise into response.body
};

struct HttpResponse {
    long status = 0;
    HttpHeaders headers;  // names lower-cased
    std::string body;     // error bodies always land here, whatever the sink
    // The transfer stopped because the request's body file could not be read: our fault, not the
    // server's or the network's, and not worth a retry.
    bool body_unreadable = false;

    // The first header of that (lower-case) name, or "".
    std::string header(const std::string& name) const;
};

// One connection-reusing client. Not thread-safe: keep one per thread.
class HttpClient {
public:
    explicit HttpClient(HttpOptions options = {});
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Performs one request. Transport failures (connect, TLS, timeout, reset) are a non-ok Status
    // (Code::io_error, message from libcurl naming the host); any HTTP status is ok + response.status.
    // A sink's error aborts the transfer and is returned, and so does a body file that cannot be read
    // (or holds fewer than body_len bytes from body_offset). libcurl may rewind the body (CURLOPT_SEEKFUNCTION).
    Status perform(const HttpRequest& request, HttpResponse& response);

private:
    CURL* m_curl;
    HttpOptions m_options;
};

// Retry policy for object stores: up to k_retry_attempts tries; retried are transport failures, 5xx,
// 408 and 429, and S3's SlowDown/RequestTimeout/InternalError; never other 4xx.
constexpr int k_retry_attempts = 4;
constexpr auto k_retry_base_delay = std::chrono::milliseconds(100);
constexpr auto k_retry_max_delay = std::chrono::milliseconds(2000);

bool http_status_retryable(long status);
// The delay before retry number `attempt` (1 = first retry): exponential, capped, with full jitter from
// `random01` in [0,1).
std::chrono::milliseconds retry_delay(int attempt, double random01);

}  // namespace walvault
