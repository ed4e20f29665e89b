// Unit tests for core/http/http_client: retry classification and backoff, header lookup, and transport
// failures (refused connection, a server that never answers) reported as Status with timeouts honoured.
#include "core/http/http_client.h"

#include "test/unit/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

namespace walvault {
namespace {

// A listening socket on 127.0.0.1 that accepts nothing: connections queue in the backlog, requests get
// no answer.
class SilentServer {
public:
    SilentServer()
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        EXPECT_EQ(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(m_fd, 8), 0);
        socklen_t len = sizeof(addr);
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
    }
    ~SilentServer() { ::close(m_fd); }
    int port() const { return m_port; }

private:
    int m_fd = -1;
    int m_port = 0;
};

TEST(HttpRetry, StatusClassification)
{
    for (long status : {408L, 429L, 500L, 502L, 503L, 504L})
        EXPECT_TRUE(http_status_retryable(status)) << status;
    for (long status : {200L, 204L, 301L, 400L, 403L, 404L, 409L, 412L, 416L})
        EXPECT_FALSE(http_status_retryable(status)) << status;
}

TEST(HttpRetry, DelayIsExponentialCappedAndJittered)
{
    EXPECT_EQ(retry_delay(1, 0.0), std::chrono::milliseconds(0));
    EXPECT_EQ(retry_delay(1, 0.999), std::chrono::milliseconds(99));
    EXPECT_EQ(retry_delay(2, 0.5), std::chrono::milliseconds(100));
    EXPECT_EQ(retry_delay(3, 0.5), std::chrono::milliseconds(200));
    EXPECT_EQ(retry_delay(4, 0.5), std::chrono::milliseconds(400));
    // Capped at k_retry_max_delay, however many attempts.
    EXPECT_EQ(retry_delay(10, 0.5), std::chrono::milliseconds(1000));
    EXPECT_EQ(retry_delay(60, 0.999), std::chrono::milliseconds(1998));
    // The whole retry budget stays short: the archiver retries on its own.
    std::chrono::milliseconds worst{0};
    for (int attempt = 1; attempt < k_retry_attempts; ++attempt)
        worst += retry_delay(attempt, 0.999999);
    EXPECT_LT(worst, std::chrono::seconds(2));
}

TEST(HttpResponse, HeaderLookupIsByLowerCaseName)
{
    HttpResponse r;
    r.headers = {{"etag", "\"abc\""}, {"content-length", "12"}, {"etag", "\"second\""}};
    EXPECT_EQ(r.header("etag"), "\"abc\"");
    EXPECT_EQ(r.header("content-length"), "12");
    EXPECT_EQ(r.header("x-missing"), "");
}

TEST(HttpClient, RefusedConnectionIsAnIoError)
{
    HttpClient client;
    HttpRequest req;
    req.method = "GET";
    req.url = "http://127.0.0.1:" + std::to_string(test::unused_local_port()) + "/bucket/key";
    HttpResponse response;
    const Status s = client.perform(req, response);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_NE(s.message().find("127.0.0.1"), std::string::npos) << s.message();
    EXPECT_EQ(response.status, 0);
}

TEST(HttpClient, SilentServerTimesOut)
{
    SilentServer server;
    HttpOptions options;
    options.connect_timeout = std::chrono::milliseconds(500);
    options.request_timeout = std::chrono::milliseconds(700);
    HttpClient client(options);
    HttpRequest req;
    req.method = "PUT";
    const std::string body(1000, 'x');
    req.body = reinterpret_cast<const uint8_t*>(body.data());
    req.body_len = body.size();
    req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/bucket/key";
    HttpResponse response;
    const auto start = std::chrono::steady_clock::now();
    const Status s = client.perform(req, response);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_NE(s.message().find("imed out"), std::string::npos) << s.message();
    EXPECT_GE(elapsed, std::chrono::milliseconds(600));
    EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(HttpClient, UnverifiableTlsIsRefused)
{
    // A plain-TCP listener cannot complete a TLS handshake: the client must fail, not fall back.
    SilentServer server;
    HttpOptions options;
    options.request_timeout = std::chrono::milliseconds(700);
    HttpClient client(options);
    HttpRequest req;
    req.method = "GET";
    req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
    HttpResponse response;
    EXPECT_EQ(client.perform(req, response).code(), Code::io_error);
}

}  // namespace
}  // namespace walvault
