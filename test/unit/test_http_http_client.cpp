// Unit tests for core/http/http_client: retry classification and backoff, header lookup, transport
// failures (refused connection, a server that never answers) reported as Status with timeouts honoured,
// and request bodies sent from a file range, also when libcurl must rewind them.
#include "core/http/http_client.h"

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

// A plain HTTP/1.1 server on 127.0.0.1 that answers what the test says and records every request it read:
// one connection at a time, Content-Length bodies only. An answer can also be to hang up without a word,
// like a server that closed an idle keep-alive connection just as the request came.
class ScriptedServer {
public:
    struct Request {
        std::string method;
        std::string target;
        HttpHeaders headers;  // names lower-cased
        std::string body;
        int connection = 0;  // 1 for the first connection accepted
    };
    struct Answer {
        long status = 200;
        HttpHeaders headers;
        std::string body;
        bool close = true;  // Connection: close after this answer
        bool drop = false;  // read the request, then close without answering
    };
    using Script = std::function<Answer(const Request& request, size_t index)>;

    explicit ScriptedServer(Script script)
        : m_script(std::move(script))
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(m_fd, 8), 0);
        socklen_t len = sizeof(addr);
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len);
        m_port = ntohs(addr.sin_port);
        m_thread = std::thread([this] { serve(); });
    }
    ~ScriptedServer()
    {
        m_stop = true;
        m_thread.join();
        ::close(m_fd);
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(m_port) + path; }
    std::vector<Request> requests()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_requests;
    }

private:
    // Waits until fd is readable or the server stops.
    bool readable(int fd)
    {
        while (!m_stop) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) > 0)
                return true;
        }
        return false;
    }
    // Appends at least one byte from the connection; false on end of stream or stop.
    bool receive(int fd, std::string& in)
    {
        char buf[65536];
        if (!readable(fd))
            return false;
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return false;
        in.append(buf, static_cast<size_t>(n));
        return true;
    }
    void serve()
    {
        int connection = 0;
        while (readable(m_fd)) {
            const int fd = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            ++connection;
            std::string in;
            for (bool open = true; open;) {
                size_t end;
                while ((end = in.find("\r\n\r\n")) == std::string::npos && (open = receive(fd, in)))
                    ;
                if (!open)
                    break;
                Request r;
                r.connection = connection;
                std::istringstream head(in.substr(0, end));
                in.erase(0, end + 4);
                std::string line;
                std::getline(head, line);
                std::istringstream(line) >> r.method >> r.target;
                size_t length = 0;
                while (std::getline(head, line)) {
                    const size_t colon = line.find(':');
                    if (colon == std::string::npos)
                        continue;
                    std::string name = line.substr(0, colon);
                    std::string value = line.substr(colon + 1);
                    for (char& c : name)
                        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    value.erase(0, value.find_first_not_of(' '));
                    if (!value.empty() && value.back() == '\r')
                        value.pop_back();
                    if (name == "content-length")
                        length = std::stoul(value);
                    r.headers.emplace_back(name, value);
                }
                size_t index;
                {
                    std::lock_guard<std::mutex> lock(m_mutex);
                    index = m_requests.size();
                }
                const Answer a = m_script(r, index);
                while (in.size() < length && (open = receive(fd, in)))
                    ;
                if (!open)
                    break;
                r.body = in.substr(0, length);
                in.erase(0, length);
                {
                    std::lock_guard<std::mutex> lock(m_mutex);
                    m_requests.push_back(r);
                }
                if (a.drop)
                    break;
                std::string out = "HTTP/1.1 " + std::to_string(a.status) + " X\r\n";
                for (const auto& [name, value] : a.headers)
                    out += name + ": " + value + "\r\n";
                if (r.method != "HEAD")
                    out += "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
                out += a.close ? "Connection: close\r\n\r\n" : "\r\n";
                if (r.method != "HEAD")
                    out += a.body;
                EXPECT_EQ(::send(fd, out.data(), out.size(), MSG_NOSIGNAL), static_cast<ssize_t>(out.size()));
                open = !a.close;
            }
            ::close(fd);
        }
    }

    Script m_script;
    int m_fd = -1;
    int m_port = 0;
    std::atomic<bool> m_stop{false};
    std::mutex m_mutex;
    std::vector<Request> m_requests;
    std::thread m_thread;
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

TEST(HttpClient, BodyFromAFileRangeIsSentExactly)
{
    ScriptedServer server([](const ScriptedServer::Request&, size_t) { return ScriptedServer::Answer{}; });
    test::TempDir dir;
    const std::vector<uint8_t> bytes = test::random_bytes(1000000, 11);
    const int fd = ::open(body_file(dir, bytes).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    HttpClient client;
    HttpRequest req;
    req.method = "PUT";
    req.url = server.url("/bucket/key");
    req.body_fd = fd;
    req.body_offset = 123457;
    req.body_len = 654321;  // more than libcurl's upload buffer, not a multiple of it
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
    HttpRequest req;
    req.method = "PUT";
    req.url = server.url("/bucket/key");
    req.body_fd = fd;
    req.body_offset = 1000;
    req.body_len = 200000;
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
    HttpRequest req;
    req.method = "PUT";
    req.url = server.url("/bucket/key");
    req.body_fd = fd;
    req.body_offset = 50000;
    req.body_len = 60000;
    HttpResponse response;
    const Status s = client.perform(req, response);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "the request body ends at offset 100000, before its 60000 bytes from offset 50000");
    EXPECT_TRUE(response.body_unreadable);
    ::close(fd);
}

}  // namespace
}  // namespace walvault
