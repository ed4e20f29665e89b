// Unit tests for core/storage/s3/s3_storage against a real S3 server: s3rver (installed by scripts/deps.sh)
// started on 127.0.0.1 for this test and stopped by its PID. The Storage contracts of storage.h, plus what
// only object stores have: ListObjectsV2 pagination (more than 1000 keys), batched DeleteObjects, multipart
// uploads, ranged GETs, and errors from the store with their codes.
#include "core/storage/s3/s3_storage.h"

#include "test/unit/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

namespace walvault {
namespace {

constexpr const char* k_bucket = "unit-bucket";

bool port_open(int port)
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

// One s3rver for the whole suite.
class S3rverEnvironment {
public:
    static S3rverEnvironment& get()
    {
        static S3rverEnvironment env;
        return env;
    }
    int port() const { return m_port; }
    const std::string& error() const { return m_error; }
    ~S3rverEnvironment()
    {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            ::waitpid(m_pid, nullptr, 0);
        }
    }

private:
    S3rverEnvironment()
    {
        const char* node_dir = std::getenv("WALVAULT_NODE_DIR");
        const std::string script =
            std::string(node_dir ? node_dir : "/opt/walvault-test") + "/node_modules/s3rver/bin/s3rver.js";
        if (!test::file_exists(script)) {
            m_error = "s3rver is not installed at " + script + ": run scripts/deps.sh";
            return;
        }
        m_port = test::unused_local_port();
        const std::string port = std::to_string(m_port);
        const std::string data = m_data.path();
        m_pid = ::fork();
        if (m_pid == 0) {
            ::execlp("node", "node", "--openssl-legacy-provider", script.c_str(), "-d", data.c_str(), "-a", "127.0.0.1",
                "-p", port.c_str(), "--silent", "--configure-bucket", k_bucket, nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 200 && !port_open(m_port); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!port_open(m_port))
            m_error = "s3rver did not start on port " + port;
    }

    test::TempDir m_data;
    pid_t m_pid = -1;
    int m_port = 0;
    std::string m_error;
};

class S3StorageTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto& env = S3rverEnvironment::get();
        ASSERT_EQ(env.error(), "");
        test::write_file(
            m_creds / "credentials", "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
        m_options.s3_endpoint = "http://127.0.0.1:" + std::to_string(env.port());
        m_options.s3_region = "us-east-1";
        m_options.s3_credentials_file = m_creds / "credentials";
        m_options.getenv = [](const std::string&) { return std::nullopt; };  // no AWS_* from the machine
        // A prefix per test: tests never see each other's objects.
        m_prefix = std::string("t/") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    }

    Status put(const std::string& key, const std::vector<uint8_t>& data)
    {
        std::unique_ptr<Writer> w;
        Status s = m_storage->create(key, w);
        for (size_t off = 0; s.is_ok() && off < data.size(); off += 1 << 20)
            s = w->write(data.data() + off, std::min<size_t>(1 << 20, data.size() - off));
        return s.is_ok() ? w->commit() : s;
    }

    std::vector<uint8_t> get(const std::string& key, Status* status = nullptr)
    {
        std::vector<uint8_t> out;
        Status s = m_storage->get(key, test::vector_sink(out));
        if (status)
            *status = s;
        else
            EXPECT_TRUE(s.is_ok()) << s.message();
        return out;
    }

    test::TempDir m_creds;
    StorageOptions m_options;
    std::string m_prefix;
    std::unique_ptr<Storage> m_storage;
};

TEST_F(S3StorageTest, WriteHeadGetRangeRemove)
{
    const std::vector<uint8_t> data = test::random_bytes(300000, 7);
    WV_ASSERT_OK(put("wal/a/obj.zst", data));
    ObjectInfo info;
    WV_ASSERT_OK(m_storage->head("wal/a/obj.zst", info));
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(get("wal/a/obj.zst"), data);
    std::vector<uint8_t> range;
    WV_ASSERT_OK(m_storage->get_range("wal/a/obj.zst", 1000, 10, range));
    EXPECT_EQ(range, std::vector<uint8_t>(data.begin() + 1000, data.begin() + 1010));
    WV_ASSERT_OK(m_storage->get_range("wal/a/obj.zst", data.size() - 4, 100, range));
    EXPECT_EQ(range, std::vector<uint8_t>(data.end() - 4, data.end()));
    EXPECT_EQ(m_storage->location("wal/a/obj.zst"), "s3://unit-bucket/" + m_prefix + "/wal/a/obj.zst");
    WV_ASSERT_OK(m_storage->remove("wal/a/obj.zst"));
    EXPECT_EQ(m_storage->head("wal/a/obj.zst", info).code(), Code::not_found);
    WV_EXPECT_OK(m_storage->remove("wal/a/obj.zst"));  // absent: still ok
    Status s;
    get("wal/a/obj.zst", &s);
    EXPECT_EQ(s.code(), Code::not_found);
}

TEST_F(S3StorageTest, NothingVisibleBeforeCommitAndEmptyObjects)
{
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("x", w));
    const std::vector<uint8_t> data = test::random_bytes(1000, 1);
    WV_ASSERT_OK(w->write(data.data(), data.size()));
    ObjectInfo info;
    EXPECT_EQ(m_storage->head("x", info).code(), Code::not_found);
    w->abort();
    EXPECT_EQ(m_storage->head("x", info).code(), Code::not_found);
    WV_ASSERT_OK(put("empty", {}));
    WV_ASSERT_OK(m_storage->head("empty", info));
    EXPECT_EQ(info.size, 0u);
    EXPECT_TRUE(get("empty").empty());
}

TEST_F(S3StorageTest, MultipartUploadsAreVerifiedAndWhole)
{
    m_options.s3_part_size = 5 * 1024 * 1024;
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    const std::vector<uint8_t> data = test::random_bytes(12 * 1024 * 1024 + 12345, 3);  // 3 parts
    WV_ASSERT_OK(put("big", data));
    ObjectInfo info;
    WV_ASSERT_OK(m_storage->head("big", info));
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(get("big"), data);
}

TEST_F(S3StorageTest, ListPaginatesAndRemoveManyBatches)
{
    // More than one ListObjectsV2 page (1000 keys) and more than one DeleteObjects batch (1000 keys).
    constexpr int k_count = 1100;
    std::vector<std::string> keys;
    for (int i = 0; i < k_count; ++i) {
        char name[32];
        std::snprintf(name, sizeof(name), "wal/%04d.zst", i);
        keys.emplace_back(name);
        WV_ASSERT_OK(put(name, test::to_bytes(name)));
    }
    WV_ASSERT_OK(put("other/x", test::to_bytes("x")));
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage->list("wal/", listed));
    ASSERT_EQ(listed.size(), static_cast<size_t>(k_count));
    for (int i = 0; i < k_count; ++i) {
        EXPECT_EQ(listed[i].key, keys[i]);
        EXPECT_EQ(listed[i].size, keys[i].size());
    }
    WV_ASSERT_OK(m_storage->list("", listed));
    EXPECT_EQ(listed.size(), static_cast<size_t>(k_count + 1));
    keys.push_back("never/existed");
    WV_ASSERT_OK(m_storage->remove_many(keys));
    WV_ASSERT_OK(m_storage->list("", listed));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].key, "other/x");
}

TEST_F(S3StorageTest, StoreErrorsKeepTheirCodes)
{
    test::write_file(
        m_creds / "credentials", "[default]\naws_access_key_id = WRONGKEY\naws_secret_access_key = S3RVER\n");
    std::unique_ptr<Storage> wrong;
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, wrong));
    ObjectInfo info;
    Status s = wrong->head("anything", info);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_NE(s.message().find("InvalidAccessKeyId"), std::string::npos) << s.message();
    EXPECT_NE(s.hint().find("credentials"), std::string::npos) << s.hint();
    EXPECT_EQ(s.message().find("S3RVER"), std::string::npos) << "no secret in messages";

    std::unique_ptr<Storage> nobucket;
    WV_ASSERT_OK(open_storage("s3://no-such-bucket/p", m_options, nobucket));
    test::write_file(
        m_creds / "credentials", "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
    std::vector<uint8_t> out;
    s = nobucket->get("k", test::vector_sink(out));
    EXPECT_NE(s.message().find("NoSuchBucket"), std::string::npos) << s.message();
}

TEST(S3StorageOptions, BadOptionsNameTheirSetting)
{
    StorageOptions o;
    o.getenv = [](const std::string&) { return std::nullopt; };
    std::unique_ptr<Storage> s;
    o.s3_uri_style = "virtual";
    EXPECT_NE(open_storage("s3://b/p", o, s).message().find("walvault.s3_uri_style"), std::string::npos);
    o = StorageOptions{};
    o.getenv = [](const std::string&) { return std::nullopt; };
    o.s3_sse_kms_key_id = "key";
    EXPECT_NE(open_storage("s3://b/p", o, s).message().find("walvault.s3_sse_kms_key_id"), std::string::npos);
    o = StorageOptions{};
    o.getenv = [](const std::string&) { return std::nullopt; };
    o.s3_part_size = 1024;
    EXPECT_NE(open_storage("s3://b/p", o, s).message().find("walvault.s3_part_size"), std::string::npos);
    o = StorageOptions{};
    o.getenv = [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_ENDPOINT_URL")
            return std::string("http://127.0.0.1:1");
        return std::nullopt;
    };
    WV_ASSERT_OK(open_storage("s3://b/p", o, s));
    EXPECT_EQ(s->location(), "s3://b/p");
}

}  // namespace
}  // namespace walvault
