// ScriptedServer for the unit tests of core/http and core/storage/s3: a local HTTP server whose answers
// the test scripts, for what a real store cannot be made to do on demand (a 503, a dropped connection).
#pragma once

#include "core/http/http_client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace walvault::test {

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

}  // namespace walvault::test
