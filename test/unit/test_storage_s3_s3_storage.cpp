// Unit tests for core/storage/s3/s3_storage: what only object stores have, against a real S3 server
// (s3rver, test/unit/s3rver_env.h): ListObjectsV2 pagination (more than 1000 keys), batched DeleteObjects,
// multipart uploads, errors from the store with their codes, and writers that keep k_s3_writer_memory bytes
// in memory and spill the rest. A scripted local server plays what s3rver cannot: a retried upload must
// resend every byte, and a store that honours If-None-Match refuses a taken key. The Storage contracts of
// storage.h are test/unit/test_storage_contract.cpp.
#include "core/storage/s3/s3_storage.h"

#include "core/codec/sha256.h"
#include "core/common/text.h"
#include "core/http/http_client.h"
#include "test/unit/s3rver_env.h"
#include "test/unit/scripted_server.h"
#include "test/unit/test_support.h"

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include <openssl/evp.h>

#include <gtest/gtest.h>

namespace walvault {
namespace {

using test::k_s3rver_bucket;
using test::ScriptedServer;

class S3StorageTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto& env = test::S3rverEnvironment::get();
        ASSERT_EQ(env.error(), "");
        m_options = env.options(m_creds);
        // A prefix per test: tests never see each other's objects.
        m_prefix = std::string("t/") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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

TEST_F(S3StorageTest, MultipartUploadsAreVerifiedAndWhole)
{
    m_options.settings["s3_part_size"] = "5";
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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
    const std::string repo = std::string("s3://") + k_s3rver_bucket + "/" + m_prefix;
    const std::string base = identity(repo, [](StorageOptions&) {});
    EXPECT_EQ(base, m_storage->identity());
    EXPECT_EQ(base, repo + " at " + m_options.settings["s3_endpoint"] + " (region us-east-1, path-style URIs)");
    // The same location() at another endpoint, region or URI style is another store.
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.settings["s3_endpoint"] = "http://127.0.0.1:1"; }), base);
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.settings["s3_region"] = "eu-west-1"; }), base);
    EXPECT_NE(identity(repo, [](StorageOptions& o) { o.settings["s3_uri_style"] = "host"; }), base);
    EXPECT_NE(identity(repo + "/more", [](StorageOptions&) {}), base);
    // Credentials and write options do not change where objects are.
    EXPECT_EQ(identity(repo, [](StorageOptions& o) { o.settings["s3_storage_class"] = "STANDARD_IA"; }), base);
    EXPECT_EQ(identity(repo, [](StorageOptions& o) { o.settings["s3_profile"] = "other"; }), base);
}

TEST_F(S3StorageTest, NoCredentialsIsNotNotFound)
{
    // No credentials anywhere (no file, no environment, no HOME, instance metadata off): every request fails
    // as a setup problem, never as "no such object", which restore_command would read as the end of the archive.
    StorageOptions options = m_options;
    options.settings.erase("s3_credentials_file");
    options.getenv = [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_EC2_METADATA_DISABLED")
            return "true";
        return std::nullopt;
    };
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, options, storage));
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
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, wrong));
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
    m_options.settings["s3_part_size"] = "5";
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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
    WV_ASSERT_OK(open_storage(std::string("s3://") + k_s3rver_bucket + "/" + m_prefix, m_options, m_storage));
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
        m_options.settings["s3_endpoint"] = m_server.url("");
        m_options.settings["s3_region"] = "us-east-1";
        m_options.settings["s3_credentials_file"] = m_creds / "credentials";
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
    m_options.settings["s3_part_size"] = "5";
    const std::vector<uint8_t> data = test::random_bytes(11 * test::k_mib, 32);  // parts of 5, 5 and 1 MiB
    const std::string bytes(data.begin(), data.end());
    std::string part_md5s;
    std::vector<std::string> parts;
    for (size_t i = 0; i < 3; ++i) {
        parts.push_back(bytes.substr(i * k_s3_min_part_size, k_s3_min_part_size));
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

// A store that honours If-None-Match (AWS S3 does; s3rver does not) answers 412 PreconditionFailed when the
// key is taken: commit() is then Code::already_exists, for a single PUT and for a multipart upload, and
// nothing more is sent (the object is left as it was).
TEST(S3CreateOnly, PreconditionFailedIsAlreadyExists)
{
    test::TempDir creds;
    test::write_file(creds / "credentials", "[default]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\n");
    const std::vector<uint8_t> data = test::random_bytes(k_s3_min_part_size + 1, 9);
    const std::string bytes(data.begin(), data.end());
    ScriptedServer server([&](const ScriptedServer::Request& r, size_t) {
        ScriptedServer::Answer a;
        if (r.method == "POST" && r.target.find("?uploads") != std::string::npos) {
            a.body = "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>";
        } else if (r.method == "PUT" && r.target.find("partNumber=1&") != std::string::npos) {
            a.headers = {{"ETag", "\"" + md5_hex(bytes.substr(0, k_s3_min_part_size)) + "\""}};
        } else if (r.method == "PUT" && r.target.find("partNumber=2&") != std::string::npos) {
            a.headers = {{"ETag", "\"" + md5_hex(bytes.substr(k_s3_min_part_size)) + "\""}};
        } else if (r.method == "PUT" || r.method == "POST") {  // the object's PUT, CompleteMultipartUpload
            a.status = 412;
            a.body = "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you "
                     "specified did not hold</Message></Error>";
        }
        return a;
    });
    StorageOptions options;
    options.settings["s3_endpoint"] = server.url("");
    options.settings["s3_region"] = "us-east-1";
    options.settings["s3_credentials_file"] = creds / "credentials";
    options.settings["s3_part_size"] = std::to_string(k_s3_min_part_size >> 20);
    options.getenv = [](const std::string&) { return std::nullopt; };
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage("s3://b/p", options, storage));
    for (size_t size : {size_t{1000}, k_s3_min_part_size + 1}) {  // one PUT; two parts
        SCOPED_TRACE(size);
        const size_t before = server.requests().size();
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(storage->create("wal/seg.zst", w));
        WV_ASSERT_OK(w->write(data.data(), size));
        const Status s = w->commit();
        EXPECT_EQ(s.code(), Code::already_exists) << s.message();
        const auto got = server.requests();
        ASSERT_GT(got.size(), before);
        EXPECT_EQ(http_header(got.back().headers, "if-none-match"), "*");
        EXPECT_NE(got.back().method, "HEAD");
    }
}

TEST(S3StorageOptions, BadOptionsNameTheirSetting)
{
    StorageOptions o;
    o.getenv = [](const std::string&) { return std::nullopt; };
    std::unique_ptr<Storage> s;
    o.settings["s3_uri_style"] = "virtual";
    EXPECT_NE(open_storage("s3://b/p", o, s).message().find("walvault.s3_uri_style"), std::string::npos);
    o = StorageOptions{};
    o.getenv = [](const std::string&) { return std::nullopt; };
    o.settings["s3_sse_kms_key_id"] = "key";
    EXPECT_NE(open_storage("s3://b/p", o, s).message().find("walvault.s3_sse_kms_key_id"), std::string::npos);
    o = StorageOptions{};
    o.getenv = [](const std::string&) { return std::nullopt; };
    o.settings["s3_part_size"] = "1";
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
