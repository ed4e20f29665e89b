// Unit tests for core/http/http_client: retry classification and backoff, header lookup, transport
// failures (refused connection, a server that never answers) reported as Status with timeouts honoured,
// and request bodies sent from a file range, also when libcurl must rewind them.
#include "core/http/http_client.h"

#include "test/unit/scripted_server.h"
#include "test/unit/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace walvault {
namespace {

using test::ScriptedServer;

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

// A file of known bytes for body-from-file tests; removed with its directory.
std::string body_file(test::TempDir& dir, const std::vector<uint8_t>& bytes)
{
    const std::string path = dir / "body";
    test::write_file(path, bytes);
    return path;
}

// A PUT to /bucket/key of server whose body is len bytes of the file open on fd, from offset.
HttpRequest file_put(const ScriptedServer& server, int fd, uint64_t offset, size_t len)
{
    HttpRequest req;
    req.method = "PUT";
    req.url = server.url("/bucket/key");
    req.body_fd = fd;
    req.body_offset = offset;
    req.body_len = len;
    return req;
}

TEST(HttpClient, BodyFromAFileRangeIsSentExactly)
{
    ScriptedServer server([](const ScriptedServer::Request&, size_t) { return ScriptedServer::Answer{}; });
    test::TempDir dir;
    const std::vector<uint8_t> bytes = test::random_bytes(1000000, 11);
    const int fd = ::open(body_file(dir, bytes).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    HttpClient client;
    // 654321 bytes: more than libcurl's upload buffer, not a multiple of it.
    HttpRequest req = file_put(server, fd, 123457, 654321);
    HttpResponse response;
    WV_ASSERT_OK(client.perform(req, response));
    EXPECT_EQ(response.status, 200);
    const auto got = server.requests();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].method, "PUT");
    EXPECT_EQ(got[0].target, "/bucket/key");
    EXPECT_EQ(got[0].body, std::string(bytes.begin() + 123457, bytes.begin() + 123457 + 654321));
    // pread: the file's own offset is untouched.
    EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), 0);
    ::close(fd);
}

TEST(HttpClient, BodyFromAFileIsRewoundWhenAReusedConnectionDied)
{
    // The first request leaves the connection open; the server reads the second one on it and hangs up
    // without answering (as when it closed the idle connection just then): libcurl retries on a new
    // connection and must rewind the body to send it again from its first byte.
    ScriptedServer server([](const ScriptedServer::Request&, size_t index) {
        ScriptedServer::Answer a;
        a.close = false;
        a.drop = index == 1;
        return a;
    });
    test::TempDir dir;
    const std::vector<uint8_t> bytes = test::random_bytes(300000, 12);
    const int fd = ::open(body_file(dir, bytes).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    HttpClient client;
    HttpRequest req = file_put(server, fd, 1000, 200000);
    HttpResponse response;
    WV_ASSERT_OK(client.perform(req, response));
    WV_ASSERT_OK(client.perform(req, response));
    EXPECT_EQ(response.status, 200);
    const auto got = server.requests();
    ASSERT_EQ(got.size(), 3u);
    const std::string expected(bytes.begin() + 1000, bytes.begin() + 201000);
    EXPECT_EQ(got[0].body, expected);
    EXPECT_EQ(got[1].connection, 1);  // unanswered, on the reused connection
    EXPECT_EQ(got[1].body, expected);
    EXPECT_EQ(got[2].connection, 2);
    EXPECT_EQ(got[2].body, expected);
    ::close(fd);
}

TEST(HttpClient, BodyFileShorterThanTheRangeIsAnErrorOfTheBody)
{
    ScriptedServer server([](const ScriptedServer::Request&, size_t) { return ScriptedServer::Answer{}; });
    test::TempDir dir;
    const int fd = ::open(body_file(dir, test::random_bytes(100000, 13)).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    HttpClient client;
    HttpRequest req = file_put(server, fd, 50000, 60000);
    HttpResponse response;
    const Status s = client.perform(req, response);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "the request body ends at offset 100000, before its 60000 bytes from offset 50000");
    EXPECT_TRUE(response.body_unreadable);
    ::close(fd);
}

}  // namespace
}  // namespace walvault
