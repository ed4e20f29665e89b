// One s3rver (installed by scripts/deps.sh) per unit-test process, on 127.0.0.1, shared by every suite that
// needs a real S3 server: started on first use, stopped by its PID when the process exits. Each test then
// opens its own prefix of k_s3rver_bucket, so tests never see each other's objects.
#pragma once

#include "core/storage/storage.h"
#include "test/unit/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

namespace walvault::test {

constexpr const char* k_s3rver_bucket = "unit-bucket";

// Whether something accepts connections on 127.0.0.1:port.
inline bool local_port_open(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

class S3rverEnvironment {
public:
    static S3rverEnvironment& get()
    {
        static S3rverEnvironment env;
        return env;
    }
    int port() const { return m_port; }
    // Why the server is not there ("" when it is).
    const std::string& error() const { return m_error; }

    // Storage options for this server with the credentials s3rver accepts, written to a file in creds_dir;
    // nothing is taken from the machine's AWS_* environment.
    StorageOptions options(const TempDir& creds_dir) const
    {
        write_file(
            creds_dir / "credentials", "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
        StorageOptions o;
        o.settings["s3_endpoint"] = "http://127.0.0.1:" + std::to_string(m_port);
        o.settings["s3_region"] = "us-east-1";
        o.settings["s3_credentials_file"] = creds_dir / "credentials";
        o.getenv = [](const std::string&) { return std::nullopt; };
        return o;
    }

    ~S3rverEnvironment()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    S3rverEnvironment(const S3rverEnvironment&) = delete;
    S3rverEnvironment& operator=(const S3rverEnvironment&) = delete;

private:
    S3rverEnvironment()
    {
        const char* node_dir = std::getenv("WALVAULT_NODE_DIR");
        const std::string script =
            std::string(node_dir ? node_dir : "/opt/walvault-test") + "/node_modules/s3rver/bin/s3rver.js";
        if (!file_exists(script)) {
            m_error = "s3rver is not installed at " + script + ": run scripts/deps.sh";
            return;
        }
        m_port = unused_local_port();
        const std::string port = std::to_string(m_port);
        const std::string data = m_data.path();
        m_pid = ::fork();
        if (m_pid == 0) {
            ::execlp("node", "node", "--openssl-legacy-provider", script.c_str(), "-d", data.c_str(), "-a", "127.0.0.1",
                "-p", port.c_str(), "--silent", "--configure-bucket", k_s3rver_bucket, nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 200 && !local_port_open(m_port); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!local_port_open(m_port))
            m_error = "s3rver did not start on port " + port;
    }

    TempDir m_data;
    pid_t m_pid = -1;
    int m_port = 0;
    std::string m_error;
};

}  // namespace walvault::test
