// Unit tests for core/storage/s3/s3_storage against a real S3 server: s3rver (installed by scripts/deps.sh)
// started on 127.0.0.1 for this test and stopped by its PID. The Storage contracts of storage.h, plus what
// only object stores have: ListObjectsV2 pagination (more than 1000 keys), batched DeleteObjects, multipart
// uploads, ranged GETs, and errors from the store with their codes. Writers keep k_s3_writer_memory bytes
// in memory and spill the rest; a scripted local server checks that a retried upload resends every byte.
#include "core/storage/s3/s3_storage.h"

#include "core/codec/sha256.h"
#include "core/common/text.h"
#include "core/http/http_client.h"
#include "test/unit/scripted_server.h"
#include "test/unit/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <openssl/evp.h>

#include <gtest/gtest.h>

namespace walvault {
namespace {

using test::ScriptedServer;

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
    // More than one ListObjectsV2 page (1000 keys) and more than one DeleteObjects batch (1000 keys); ranges.
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

    // ListRange: start_after skips a whole page; max_keys above 1000 needs a continuation.
    WV_ASSERT_OK(m_storage->list("wal/", ListRange{"wal/1000.zst", 0}, listed));
    ASSERT_EQ(listed.size(), 99u);
    EXPECT_EQ(listed.front().key, "wal/1001.zst");
    EXPECT_EQ(listed.back().key, "wal/1099.zst");
    WV_ASSERT_OK(m_storage->list("wal/", ListRange{"", 3}, listed));
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].key, "wal/0000.zst");
    EXPECT_EQ(listed[2].key, "wal/0002.zst");
    EXPECT_EQ(listed[2].size, 12u);
    WV_ASSERT_OK(m_storage->list("wal/", ListRange{"wal/0049.zst", 1001}, listed));  // 1000 keys, then 1
    ASSERT_EQ(listed.size(), 1001u);
    EXPECT_EQ(listed.front().key, "wal/0050.zst");
    EXPECT_EQ(listed.back().key, "wal/1050.zst");
    WV_ASSERT_OK(m_storage->list("", ListRange{"other/", 2}, listed));
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0].key, "other/x");
    EXPECT_EQ(listed[1].key, "wal/0000.zst");
    WV_ASSERT_OK(m_storage->list("wal/", ListRange{"wal/1099.zst", 0}, listed));
    EXPECT_TRUE(listed.empty());

    keys.push_back("never/existed");
    WV_ASSERT_OK(m_storage->remove_many(keys));
    WV_ASSERT_OK(m_storage->list("", listed));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].key, "other/x");
}

TEST_F(S3StorageTest, IdentityNamesEverythingThatPicksTheStore)
{
    auto identity = [&](const std::string& repo, const std::function<void(StorageOptions&)>& change) {
        StorageOptions options = m_options;
        change(options);
        std::unique_ptr<Storage> storage;
        const Status s = open_storage(repo, options, storage);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return storage ? storage->identity() : std::string();
    };
    const std::string repo = std::string("s3://") + k_bucket + "/" + m_prefix;
    const std::string base = identity(repo, [](StorageOptions&) {});
    EXPECT_EQ(base, m_storage->identity());
    EXPECT_EQ(base, repo + " at " + m_options.s3_endpoint + " (region us-east-1, path-style URIs)");
    // The same location() at another endpoint, region or URI style is another store.
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.s3_endpoint = "http://127.0.0.1:1"; }), base);
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.s3_region = "eu-west-1"; }), base);
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.s3_uri_style = "host"; }), base);
    EXPECT_NE(identity(repo + "/more", [](StorageOptions&) {}), base);
    // Credentials and write options do not change where objects are.
    EXPECT_EQ(identity(repo, [](StorageOptions& o) { o.s3_storage_class = "STANDARD_IA"; }), base);
    EXPECT_EQ(identity(repo, [](StorageOptions& o) { o.s3_profile = "other"; }), base);
}

TEST_F(S3StorageTest, NoCredentialsIsNotNotFound)
{
    // No credentials anywhere (no file, no environment, no HOME, instance metadata off): every request fails
    // as a setup problem, never as "no such object", which restore_command would read as the end of the archive.
    StorageOptions options = m_options;
    options.s3_credentials_file.clear();
    options.getenv = [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_EC2_METADATA_DISABLED")
            return "true";
        return std::nullopt;
    };
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, options, storage));
    ObjectInfo info;
    Status s = storage->head("identity.json", info);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_NE(s.message().find("no AWS credentials found"), std::string::npos) << s.message();
    std::vector<uint8_t> out;
    s = storage->get("wal/a.zst", test::vector_sink(out));
    EXPECT_EQ(s.code(), Code::invalid);
    std::vector<ObjectInfo> listed;
    EXPECT_EQ(storage->list("wal/", listed).code(), Code::invalid);
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

std::string http_header(const HttpHeaders& headers, const std::string& name)
{
    for (const auto& [k, v] : headers)
        if (k == name)
            return v;
    return {};
}

std::string md5_hex(const std::string& data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
    return hex_encode(std::string(reinterpret_cast<char*>(digest), n));
}

// The files this process has open under dir (deleted ones included): /proc/self/fd.
int open_files_under(const std::string& dir)
{
    int count = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
        if (!ec && target.rfind(dir + "/", 0) == 0)
            ++count;
    }
    return count;
}

TEST_F(S3StorageTest, ObjectsAroundTheMemoryAndPartBoundariesRoundTrip)
{
    m_options.s3_part_size = 5 * 1024 * 1024;
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    const size_t part = 5 * 1024 * 1024;
    // In memory; exactly the buffer; one byte spilled; one part spilled (one PUT from the file); one byte
    // more (a second part of one byte, from memory); two parts and some.
    for (size_t size : {size_t{1000}, k_s3_writer_memory, k_s3_writer_memory + 1, part, part + 1, 2 * part + 77777}) {
        const std::vector<uint8_t> data = test::random_bytes(size, static_cast<uint32_t>(size));
        const std::string key = "obj-" + std::to_string(size);
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(m_storage->create(key, w));
        for (size_t off = 0; off < data.size(); off += 100003)  // chunks that straddle every boundary
            WV_ASSERT_OK(w->write(data.data() + off, std::min<size_t>(100003, data.size() - off)));
        WV_ASSERT_OK(w->commit());
        ObjectInfo info;
        WV_ASSERT_OK(m_storage->head(key, info));
        EXPECT_EQ(info.size, size);
        EXPECT_TRUE(get(key) == data) << size << " bytes";
    }
}

TEST_F(S3StorageTest, WriterMemoryStaysBoundedAndTheRestSpillsToTheTempDirectory)
{
    test::TempDir spill;
    m_options.temp_directory = spill.path();
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    const std::vector<uint8_t> data = test::random_bytes(20 * test::k_mib, 21);  // one PUT at the default part size
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("twenty", w));
    EXPECT_EQ(open_files_under(spill.path()), 0);  // nothing spilled yet
    size_t most = 0;
    for (size_t off = 0; off < data.size(); off += 1 << 20) {
        WV_ASSERT_OK(w->write(data.data() + off, std::min<size_t>(1 << 20, data.size() - off)));
        most = std::max(most, s3_writer_memory(*w));
    }
    EXPECT_EQ(most, k_s3_writer_memory);
    EXPECT_EQ(open_files_under(spill.path()), 1);  // the unlinked spill file
    EXPECT_TRUE(std::filesystem::is_empty(spill.path()));
    WV_ASSERT_OK(w->commit());
    EXPECT_EQ(s3_writer_memory(*w), 0u);
    EXPECT_TRUE(get("twenty") == data);
    // The spill file stays open for the next writer of this storage, and goes with the storage.
    w.reset();
    EXPECT_EQ(open_files_under(spill.path()), 1);
    m_storage.reset();
    EXPECT_EQ(open_files_under(spill.path()), 0);
}

// Later writers reuse the spill file: one file for any number of objects written one after another, and
// each object is exactly its own bytes, whether shorter or longer than what the file held before.
TEST_F(S3StorageTest, SpillFileIsReusedAndNeverLeaksEarlierBytes)
{
    test::TempDir spill;
    m_options.temp_directory = spill.path();
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    const size_t sizes[] = {20 * test::k_mib, 3 * test::k_mib + 5, k_s3_writer_memory + 1, 21 * test::k_mib + 1};
    for (size_t i = 0; i < std::size(sizes); i++) {
        const std::vector<uint8_t> data = test::random_bytes(sizes[i], 100 + static_cast<uint32_t>(i));
        const std::string key = "reused-" + std::to_string(i);
        WV_ASSERT_OK(put(key, data));
        EXPECT_EQ(open_files_under(spill.path()), 1) << key;
        ObjectInfo info;
        WV_ASSERT_OK(m_storage->head(key, info));
        EXPECT_EQ(info.size, sizes[i]) << key;
        EXPECT_TRUE(get(key) == data) << key;
    }
    // Two writers at once need two files; both are kept afterwards.
    std::unique_ptr<Writer> a, b;
    WV_ASSERT_OK(m_storage->create("both-a", a));
    WV_ASSERT_OK(m_storage->create("both-b", b));
    const std::vector<uint8_t> da = test::random_bytes(2 * test::k_mib, 7), db = test::random_bytes(test::k_mib, 8);
    WV_ASSERT_OK(a->write(da.data(), da.size()));
    WV_ASSERT_OK(b->write(db.data(), db.size()));
    EXPECT_EQ(open_files_under(spill.path()), 2);
    WV_ASSERT_OK(a->commit());
    WV_ASSERT_OK(b->commit());
    a.reset();
    b.reset();
    EXPECT_EQ(open_files_under(spill.path()), 2);
    EXPECT_TRUE(get("both-a") == da);
    EXPECT_TRUE(get("both-b") == db);
}

TEST_F(S3StorageTest, UnwritableTempDirectoryIsNamed)
{
    m_options.temp_directory = "/nonexistent/walvault-spill";
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_bucket + "/" + m_prefix, m_options, m_storage));
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("k", w));
    const std::vector<uint8_t> data = test::random_bytes(k_s3_writer_memory + 1, 5);
    const Status s = w->write(data.data(), data.size());
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(),
        "could not upload \"s3://unit-bucket/" + m_prefix +
            "/k\": could not create a temporary file in \"/nonexistent/walvault-spill\": No such file or directory");
    EXPECT_NE(s.hint().find("TMPDIR"), std::string::npos) << s.hint();
}

// A store that fails the first upload of each object part (and the first single PUT) with 503 SlowDown,
// then accepts: the retry must send every byte again, from the spill file.
class RetryingStoreTest : public ::testing::Test {
protected:
    using Request = ScriptedServer::Request;
    using Answer = ScriptedServer::Answer;

    void SetUp() override
    {
        test::write_file(
            m_creds / "credentials", "[default]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\n");
        m_options.s3_endpoint = m_server.url("");
        m_options.s3_region = "us-east-1";
        m_options.s3_credentials_file = m_creds / "credentials";
        m_options.getenv = [](const std::string&) { return std::nullopt; };
    }

    Answer answer(const Request& r)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        Answer a;
        if (r.method == "POST" && r.target.find("?uploads") != std::string::npos) {
            a.body = "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>";
        } else if (r.method == "PUT" && m_failed.insert(r.target).second) {
            a.status = 503;
            a.body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        } else if (r.method == "PUT") {
            // The header names what was sent; the body itself is checked against the data by the test.
            a.headers = {{"ETag", "\"" + m_part_etags[r.target] + "\""}};
        } else if (r.method == "POST") {
            a.body = "<CompleteMultipartUploadResult><ETag>&quot;" + m_complete_etag +
                "&quot;</ETag></CompleteMultipartUploadResult>";
        } else if (r.method == "HEAD") {
            a.headers = {{"Content-Length", std::to_string(m_size)}};
        }
        return a;
    }

    test::TempDir m_creds;
    StorageOptions m_options;
    std::mutex m_mutex;
    std::set<std::string> m_failed;
    std::map<std::string, std::string> m_part_etags;  // target -> MD5 hex of the bytes expected there
    std::string m_complete_etag;
    uint64_t m_size = 0;
    ScriptedServer m_server{[this](const Request& r, size_t) { return answer(r); }};
};

TEST_F(RetryingStoreTest, ARetriedPutResendsTheWholeSpilledBody)
{
    const std::vector<uint8_t> data = test::random_bytes(3 * test::k_mib + 5, 31);
    const std::string bytes(data.begin(), data.end());
    m_part_etags["/b/p/obj"] = md5_hex(bytes);
    m_size = data.size();
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage("s3://b/p", m_options, storage));
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(storage->create("obj", w));
    for (size_t off = 0; off < data.size(); off += 65536)
        WV_ASSERT_OK(w->write(data.data() + off, std::min<size_t>(65536, data.size() - off)));
    WV_ASSERT_OK(w->commit());
    const auto got = m_server.requests();
    ASSERT_EQ(got.size(), 3u);  // PUT (503), PUT, HEAD
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(got[i].method, "PUT");
        EXPECT_TRUE(got[i].body == bytes) << "attempt " << i + 1 << " sent " << got[i].body.size() << " bytes";
        EXPECT_EQ(http_header(got[i].headers, "x-amz-content-sha256"), sha256_hex(data.data(), data.size()));
        EXPECT_EQ(http_header(got[i].headers, "if-none-match"), "*");
    }
    EXPECT_EQ(got[2].method, "HEAD");
}

TEST_F(RetryingStoreTest, ARetriedPartResendsItsRangeOfTheSpillFile)
{
    m_options.s3_part_size = 5 * 1024 * 1024;
    const std::vector<uint8_t> data = test::random_bytes(11 * test::k_mib, 32);  // parts of 5, 5 and 1 MiB
    const std::string bytes(data.begin(), data.end());
    std::string part_md5s;
    std::vector<std::string> parts;
    for (size_t i = 0; i < 3; ++i) {
        parts.push_back(bytes.substr(i * m_options.s3_part_size, m_options.s3_part_size));
        m_part_etags["/b/p/obj?partNumber=" + std::to_string(i + 1) + "&uploadId=U1"] = md5_hex(parts.back());
    }
    m_complete_etag = md5_hex(bytes);  // s3rver's style: the MD5 of the whole object
    m_size = data.size();
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage("s3://b/p", m_options, storage));
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(storage->create("obj", w));
    for (size_t off = 0; off < data.size(); off += 1 << 20) {
        WV_ASSERT_OK(w->write(data.data() + off, std::min<size_t>(1 << 20, data.size() - off)));
        EXPECT_LE(s3_writer_memory(*w), k_s3_writer_memory);
    }
    WV_ASSERT_OK(w->commit());
    const auto got = m_server.requests();
    std::vector<std::string> sent;  // part bodies, in order, retries included
    for (const Request& r : got)
        if (r.method == "PUT")
            sent.push_back(r.body);
    ASSERT_EQ(sent.size(), 6u);
    for (size_t i = 0; i < 6; ++i)
        EXPECT_TRUE(sent[i] == parts[i / 2]) << "PUT " << i + 1 << " sent " << sent[i].size() << " bytes";
    ASSERT_EQ(got.size(), 9u);  // initiate, 3 x (503, PUT), complete, HEAD
    EXPECT_EQ(got[7].method, "POST");
    EXPECT_NE(got[7].body.find("<PartNumber>3</PartNumber>"), std::string::npos) << got[7].body;
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
