// libcurl behind a small RAII client. CURLOPT_NOSIGNAL on every handle (libcurl must never touch the
// process's signals: the module runs inside PostgreSQL's archiver); timeouts on every request; the handle
// is reset between requests but keeps its connection cache, so requests to one host reuse the connection.
#include "core/http/http_client.h"

#include "core/common/text.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <mutex>
#include <new>
#include <stdexcept>

#include <curl/curl.h>

namespace walvault {
namespace {

std::once_flag g_curl_init;

struct Transfer {
    const HttpRequest* request;
    HttpResponse* response;
    size_t sent = 0;
    Status sink_status;
    Status body_status;
};

// Fills libcurl's upload buffer (its own fixed buffer, CURLOPT_UPLOAD_BUFFERSIZE) from memory or, with
// pread, from the body's file range: a file body never sits in our memory, whatever its length.
size_t on_read(char* buffer, size_t size, size_t nitems, void* userdata)
{
    auto* t = static_cast<Transfer*>(userdata);
    const HttpRequest& r = *t->request;
    const size_t n = std::min(size * nitems, r.body_len - t->sent);
    if (r.body_fd < 0) {
        std::copy_n(r.body + t->sent, n, buffer);
        t->sent += n;
        return n;
    }
    size_t done = 0;
    while (done < n) {
        const uint64_t at = r.body_offset + t->sent + done;
        const ssize_t got = ::pread(r.body_fd, buffer + done, n - done, static_cast<off_t>(at));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            t->body_status = Status::error(Code::io_error,
                got < 0 ? "could not read the request body at offset " + std::to_string(at) + ": " + errno_text(errno)
                        : "the request body ends at offset " + std::to_string(at) + ", before its " +
                        std::to_string(r.body_len) + " bytes from offset " + std::to_string(r.body_offset));
            return CURL_READFUNC_ABORT;
        }
        done += static_cast<size_t>(got);
    }
    t->sent += n;
    return n;
}

// libcurl rewinds the body when it must send it again on the same request (a reused connection that
// turned out closed); offsets are relative to the body's start.
int on_seek(void* userdata, curl_off_t offset, int origin)
{
    auto* t = static_cast<Transfer*>(userdata);
    if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->request->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    t->sent = static_cast<size_t>(offset);
    return CURL_SEEKFUNC_OK;
}

size_t on_write(char* data, size_t size, size_t nmemb, void* userdata)
{
    auto* t = static_cast<Transfer*>(userdata);
    const size_t n = size * nmemb;
    if (t->request->sink != nullptr && t->response->status >= 200 && t->response->status < 300) {
        t->sink_status = (*t->request->sink)(reinterpret_cast<const uint8_t*>(data), n);
        return t->sink_status.is_ok() ? n : 0;  // 0 makes libcurl abort the transfer
    }
    t->response->body.append(data, n);
    return n;
}

size_t on_header(char* data, size_t size, size_t nitems, void* userdata)
{
    auto* t = static_cast<Transfer*>(userdata);
    const std::string line(data, size * nitems);
    if (line.rfind("HTTP/", 0) == 0) {
        // A new response (after 100-continue or a redirect): start over.
        t->response->headers.clear();
        const size_t sp = line.find(' ');
        t->response->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
        return size * nitems;
    }
    const size_t colon = line.find(':');
    if (colon != std::string::npos)
        t->response->headers.emplace_back(
            to_lower_ascii(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
    return size * nitems;
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const
{
    for (const auto& [k, v] : headers)
        if (k == name)
            return v;
    return {};
}

HttpClient::HttpClient(HttpOptions options)
    : m_options(std::move(options))
{
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    m_curl = curl_easy_init();
    if (m_curl == nullptr)  // out of memory, or (the tool opens libcurl on first use) no libcurl.so.4
        throw std::runtime_error("could not start libcurl: curl_easy_init failed (is libcurl4 installed?)");
}

HttpClient::~HttpClient()
{
    curl_easy_cleanup(m_curl);
}

Status HttpClient::perform(const HttpRequest& request, HttpResponse& response)
{
    response = HttpResponse{};
    Transfer t{&request, &response, 0, Status::ok(), Status::ok()};
    CURL* c = m_curl;
    curl_easy_reset(c);  // keeps the connection cache
    char errbuf[CURL_ERROR_SIZE] = {0};

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_options.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(m_options.request_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, k_http_low_speed_bytes);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(k_http_low_speed_time.count()));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, m_options.verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, m_options.verify_tls ? 2L : 0L);
    if (!m_options.ca_file.empty())
        curl_easy_setopt(c, CURLOPT_CAINFO, m_options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (m_options.no_proxy)
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // S3 redirects are errors to report, not to follow
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);

    if (request.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (request.method == "PUT" || request.method == "POST") {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_len));
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &t);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
        if (request.method == "POST")
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (request.method != "GET") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    struct curl_slist* list = nullptr;
    for (const auto& [name, value] : request.headers)
        list = curl_slist_append(list, (name + ": " + value).c_str());
    // No "Expect: 100-continue" round trip; an empty Content-Type rather than curl's form default.
    list = curl_slist_append(list, "Expect:");
    if (request.method == "PUT" || request.method == "POST")
        list = curl_slist_append(list, "Content-Type:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
        if (!t.sink_status.is_ok())
            return t.sink_status;
        if (!t.body_status.is_ok()) {
            response.body_unreadable = true;
            return t.body_status;
        }
        const std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
        return Status::error(Code::io_error, detail);
    }
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    response.status = code;
    return Status::ok();
}

bool http_status_retryable(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

std::chrono::milliseconds retry_delay(int attempt, double random01)
{
    const auto cap = std::min<int64_t>(
        k_retry_max_delay.count(), k_retry_base_delay.count() << std::min(std::max(attempt - 1, 0), 16));
    return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(cap) * random01));
}

}  // namespace walvault
