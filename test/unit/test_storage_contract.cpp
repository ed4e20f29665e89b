// The contracts of core/storage/storage.h, one set of tests run against every backend: the directory
// backend (PosixStorage in a temporary directory) and S3 on a real s3rver (test/unit/s3rver_env.h). A new
// backend passes the suite with a Backend that says how to open its repositories and one
// INSTANTIATE_TEST_SUITE_P line at the end. What only one backend has (O_DIRECT, temporary files,
// multipart uploads, pagination past 1000 keys, error mapping) is tested in that backend's own file.
#include "core/storage/storage.h"

#include "test/unit/s3rver_env.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::to_bytes;
using test::to_string;

// How to get repositories of one backend for a test. Each test gets its own scratch directory (for files
// the backend needs) and an empty repository.
struct Backend {
    const char* name;
    // Why the backend cannot run here ("" if it can): the suite then fails with this reason.
    std::function<std::string()> unavailable;
    // A walvault.repo value and options for an empty repository of this test.
    std::function<std::string(const test::TempDir& scratch, const std::string& test_name, StorageOptions& options)>
        repo;
    // A walvault.repo value and options for a repository that exists but cannot be read: the store refuses
    // (posix: a path through a regular file; S3: credentials the store rejects).
    std::function<std::string(const test::TempDir& scratch, StorageOptions& options)> unreadable_repo;
    // Whether commit() of a key that is already taken fails with Code::already_exists. storage.h: on S3
    // only where the store honours If-None-Match, which s3rver does not.
    bool create_only;
    // Whether the store lists keys in byte order, so that max_keys keeps the first ones in byte order.
    // storage.h: AWS S3 does; s3rver walks its directories ("a/b" before "a.x").
    bool lists_in_byte_order;
};

// A directory repository: PosixStorage in the test's temporary directory.
const Backend k_posix_backend{
    "posix",
    [] { return std::string(); },
    [](const test::TempDir& scratch, const std::string& test_name, StorageOptions&) {
        return scratch / ("repo/" + test_name);
    },
    [](const test::TempDir& scratch, StorageOptions&) {
        test::write_file(scratch / "file", std::string("not a directory"));
        return scratch / "file/repo";
    },
    true,
    true,
};

// S3 on the process's s3rver, a prefix per test and run (--gtest_repeat runs a test again on the same bucket).
const Backend k_s3rver_backend{
    "s3rver",
    [] { return test::S3rverEnvironment::get().error(); },
    [](const test::TempDir& scratch, const std::string& test_name, StorageOptions& options) {
        static int runs = 0;
        options = test::S3rverEnvironment::get().options(scratch);
        return std::string("s3://") + test::k_s3rver_bucket + "/contract/" + test_name + "." + std::to_string(++runs);
    },
    [](const test::TempDir& scratch, StorageOptions& options) {
        options = test::S3rverEnvironment::get().options(scratch);
        test::write_file(
            scratch / "credentials", "[default]\naws_access_key_id = WRONGKEY\naws_secret_access_key = S3RVER\n");
        return std::string("s3://") + test::k_s3rver_bucket + "/contract/unreadable";
    },
    // s3rver ignores If-None-Match, and lists "a/b" before "a.x" (storage.h says what that means).
    false,
    false,
};

void PrintTo(const Backend& backend, std::ostream* os)
{
    *os << backend.name;
}

class StorageContract : public ::testing::TestWithParam<Backend> {
protected:
    void SetUp() override
    {
        ASSERT_EQ(GetParam().unavailable(), "");
        // "Name/posix": the test's name, which with a run number is also its S3 prefix, so tests never see
        // each other's objects.
        const std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        m_repo = GetParam().repo(m_scratch, test_name, m_options);
        WV_ASSERT_OK(open_storage(m_repo, m_options, m_storage));
        ASSERT_NE(m_storage, nullptr);
    }

    Status put(const std::string& key, const std::vector<uint8_t>& data, size_t piece = 100003)
    {
        std::unique_ptr<Writer> w;
        Status s = m_storage->create(key, w);
        for (size_t off = 0; s.is_ok() && off < data.size(); off += piece)
            s = w->write(data.data() + off, std::min(piece, data.size() - off));
        return s.is_ok() ? w->commit() : s;
    }
    Status put(const std::string& key, const std::string& text) { return put(key, to_bytes(text)); }

    std::vector<uint8_t> get(const std::string& key, Status& status)
    {
        std::vector<uint8_t> out;
        status = m_storage->get(key, test::vector_sink(out));
        return out;
    }
    std::string get_text(const std::string& key)
    {
        Status s;
        const std::vector<uint8_t> out = get(key, s);
        EXPECT_TRUE(s.is_ok()) << key << ": " << s.message();
        return to_string(out);
    }

    std::vector<std::string> keys(const std::string& prefix, const ListRange& range = {})
    {
        return test::listed_keys(*m_storage, prefix, range);
    }

    test::TempDir m_scratch;
    StorageOptions m_options;
    std::string m_repo;
    std::unique_ptr<Storage> m_storage;
};

using V = std::vector<std::string>;

std::string backend_name(const ::testing::TestParamInfo<Backend>& info)
{
    return info.param.name;
}

TEST_P(StorageContract, IdentityNamesTheStore)
{
    // The same repository opened again is the same store; another repository of the backend is not; and the
    // identity is not just location() (it must also name what location() leaves out, such as an endpoint).
    std::unique_ptr<Storage> again;
    WV_ASSERT_OK(open_storage(m_repo, m_options, again));
    EXPECT_EQ(again->identity(), m_storage->identity());
    EXPECT_FALSE(m_storage->identity().empty());
    StorageOptions other_options;
    const std::string other = GetParam().repo(m_scratch, "OtherRepository", other_options);
    std::unique_ptr<Storage> different;
    WV_ASSERT_OK(open_storage(other, other_options, different));
    EXPECT_NE(different->identity(), m_storage->identity());
    // Writing does not change it (a directory created by the first write keeps its name).
    WV_ASSERT_OK(put("wal/x.zst", "x"));
    EXPECT_EQ(again->identity(), m_storage->identity());
}

TEST_P(StorageContract, LocationNamesTheRepositoryAndItsObjects)
{
    EXPECT_EQ(m_storage->location(), m_repo);
    EXPECT_EQ(m_storage->location("wal/0000000100000000/000000010000000000000003.zst"),
        m_repo + "/wal/0000000100000000/000000010000000000000003.zst");
}

TEST_P(StorageContract, CommittedObjectReadsBackWhole)
{
    // Written in pieces that line up with nothing; sizes on both sides of S3's in-memory writer buffer.
    for (size_t size : {size_t{1}, size_t{1000}, size_t{300000}}) {
        const std::string key = "wal/0000000100000000/obj-" + std::to_string(size) + ".zst";
        const std::vector<uint8_t> data = test::random_bytes(size, size);
        WV_ASSERT_OK(put(key, data, 7777));
        ObjectInfo info;
        WV_ASSERT_OK(m_storage->head(key, info));
        EXPECT_EQ(info.key, key);
        EXPECT_EQ(info.size, size);
        Status s;
        EXPECT_TRUE(get(key, s) == data) << key;
        WV_EXPECT_OK(s);
    }
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage->list("wal/", listed));
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].key, "wal/0000000100000000/obj-1.zst");
    EXPECT_EQ(listed[0].size, 1u);
    EXPECT_EQ(listed[1].key, "wal/0000000100000000/obj-1000.zst");
    EXPECT_EQ(listed[1].size, 1000u);
    EXPECT_EQ(listed[2].key, "wal/0000000100000000/obj-300000.zst");
    EXPECT_EQ(listed[2].size, 300000u);
}

TEST_P(StorageContract, EmptyObject)
{
    WV_ASSERT_OK(put("empty", ""));
    ObjectInfo info;
    WV_ASSERT_OK(m_storage->head("empty", info));
    EXPECT_EQ(info.size, 0u);
    EXPECT_EQ(get_text("empty"), "");
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage->list("", listed));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].key, "empty");
    EXPECT_EQ(listed[0].size, 0u);
}

TEST_P(StorageContract, NothingVisibleBeforeCommit)
{
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("wal/x.zst", w));
    const std::vector<uint8_t> data = test::random_bytes(300000, 2);
    WV_ASSERT_OK(w->write(data.data(), data.size()));

    ObjectInfo info;
    EXPECT_EQ(m_storage->head("wal/x.zst", info).code(), Code::not_found);
    Status s;
    get("wal/x.zst", s);
    EXPECT_EQ(s.code(), Code::not_found);
    std::vector<uint8_t> range;
    EXPECT_EQ(m_storage->get_range("wal/x.zst", 0, 10, range).code(), Code::not_found);
    EXPECT_EQ(keys(""), V{});  // writes in progress are not listed

    WV_ASSERT_OK(w->commit());
    WV_ASSERT_OK(m_storage->head("wal/x.zst", info));
    EXPECT_EQ(info.size, data.size());
    EXPECT_EQ(keys(""), V{"wal/x.zst"});
}

TEST_P(StorageContract, AbortDropsWhatWasWritten)
{
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("dir/obj", w));
    const std::vector<uint8_t> data = test::random_bytes(300000, 3);
    WV_ASSERT_OK(w->write(data.data(), data.size()));
    w->abort();
    w->abort();  // twice is harmless
    w.reset();
    ObjectInfo info;
    EXPECT_EQ(m_storage->head("dir/obj", info).code(), Code::not_found);
    EXPECT_EQ(keys(""), V{});
    // The key is free again.
    WV_ASSERT_OK(put("dir/obj", "after abort"));
    EXPECT_EQ(get_text("dir/obj"), "after abort");
}

TEST_P(StorageContract, DestructorAborts)
{
    {
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(m_storage->create("dir/obj", w));
        WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("abc"), 3));
    }
    ObjectInfo info;
    EXPECT_EQ(m_storage->head("dir/obj", info).code(), Code::not_found);
    EXPECT_EQ(keys(""), V{});
    WV_ASSERT_OK(put("dir/obj", "next writer"));
    EXPECT_EQ(get_text("dir/obj"), "next writer");
}

TEST_P(StorageContract, CommitOfATakenKeyIsAlreadyExists)
{
    WV_ASSERT_OK(put("wal/seg.zst", "first"));
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->create("wal/seg.zst", w));
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("second content"), 14));
    const Status s = w->commit();
    w->abort();  // safe after a failed (or any) commit
    w.reset();
    if (GetParam().create_only) {
        EXPECT_EQ(s.code(), Code::already_exists) << s.message();
        EXPECT_EQ(get_text("wal/seg.zst"), "first");  // left untouched
    } else {
        // The narrower promise storage.h makes for a store that ignores If-None-Match: the later write
        // replaces the object. This shows the gap rather than hiding it.
        WV_EXPECT_OK(s);
        EXPECT_EQ(get_text("wal/seg.zst"), "second content");
    }
    EXPECT_EQ(keys("wal/"), V{"wal/seg.zst"});
}

TEST_P(StorageContract, ReplaceSwapsTheObjectOnlyAtCommit)
{
    WV_ASSERT_OK(put("wal/seg.zst", "first"));
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage->replace("wal/seg.zst", w));
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("second content"), 14));
    EXPECT_EQ(get_text("wal/seg.zst"), "first");  // the old object stays until the commit
    WV_ASSERT_OK(w->commit());
    EXPECT_EQ(get_text("wal/seg.zst"), "second content");
    EXPECT_EQ(keys("wal/"), V{"wal/seg.zst"});

    // An aborted replacement leaves the object as it was; a replacement of a missing key creates it.
    WV_ASSERT_OK(m_storage->replace("wal/seg.zst", w));
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("third"), 5));
    w->abort();
    EXPECT_EQ(get_text("wal/seg.zst"), "second content");
    WV_ASSERT_OK(m_storage->replace("wal/new.zst", w));
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("new"), 3));
    WV_ASSERT_OK(w->commit());
    EXPECT_EQ(get_text("wal/new.zst"), "new");
    EXPECT_EQ(keys("wal/"), (V{"wal/new.zst", "wal/seg.zst"}));
}

TEST_P(StorageContract, OfTwoWritersOfOneKeyOneWins)
{
    // A is writing when B comes: B is refused at create() (Code::busy), or the later commit fails with
    // Code::busy or Code::already_exists. The object then holds the winner's bytes, whole.
    std::unique_ptr<Writer> a;
    WV_ASSERT_OK(m_storage->create("k", a));
    WV_ASSERT_OK(a->write(reinterpret_cast<const uint8_t*>("from a"), 6));
    std::unique_ptr<Writer> b;
    Status b_result = m_storage->create("k", b);
    if (b_result.is_ok()) {
        WV_ASSERT_OK(b->write(reinterpret_cast<const uint8_t*>("from b"), 6));
        b_result = b->commit();
    }
    const Status a_result = a->commit();
    a.reset();
    b.reset();
    if (GetParam().create_only) {
        EXPECT_NE(a_result.is_ok(), b_result.is_ok()) << "a: " << a_result.message() << "; b: " << b_result.message();
        const Status& lost = a_result.is_ok() ? b_result : a_result;
        EXPECT_TRUE(lost.code() == Code::busy || lost.code() == Code::already_exists) << lost.message();
        EXPECT_EQ(get_text("k"), a_result.is_ok() ? "from a" : "from b");
    } else {
        // A store that ignores If-None-Match takes both; the last commit's bytes stay, whole.
        WV_EXPECT_OK(a_result);
        WV_EXPECT_OK(b_result);
        EXPECT_EQ(get_text("k"), "from a");
    }
}

TEST_P(StorageContract, GetRangeReadsLessOnlyAtTheEnd)
{
    WV_ASSERT_OK(put("obj", "0123456789"));
    std::vector<uint8_t> out;
    WV_ASSERT_OK(m_storage->get_range("obj", 0, 4, out));
    EXPECT_EQ(to_string(out), "0123");
    WV_ASSERT_OK(m_storage->get_range("obj", 3, 5, out));
    EXPECT_EQ(to_string(out), "34567");
    WV_ASSERT_OK(m_storage->get_range("obj", 6, 10, out));
    EXPECT_EQ(to_string(out), "6789");
    WV_ASSERT_OK(m_storage->get_range("obj", 9, 1, out));
    EXPECT_EQ(to_string(out), "9");
    // At or past the end: nothing, and no error.
    WV_ASSERT_OK(m_storage->get_range("obj", 10, 5, out));
    EXPECT_EQ(to_string(out), "");
    WV_ASSERT_OK(m_storage->get_range("obj", 100, 5, out));
    EXPECT_EQ(to_string(out), "");
    WV_ASSERT_OK(m_storage->get_range("obj", 3, 0, out));
    EXPECT_EQ(to_string(out), "");
}

TEST_P(StorageContract, MissingObjectsAreNotFound)
{
    WV_ASSERT_OK(put("wal/present", "p"));
    for (const char* key : {"missing", "wal/missing.zst", "no/such/dir/obj"}) {
        SCOPED_TRACE(key);
        ObjectInfo info;
        EXPECT_EQ(m_storage->head(key, info).code(), Code::not_found);
        Status s;
        get(key, s);
        EXPECT_EQ(s.code(), Code::not_found);
        std::vector<uint8_t> range;
        EXPECT_EQ(m_storage->get_range(key, 0, 1, range).code(), Code::not_found);
    }
}

TEST_P(StorageContract, ARepositoryThatCannotBeReadIsNeverNotFound)
{
    // not_found says "the repository was read and does not hold this object" (wal-fetch's exit 1); a store
    // that refuses must say something else.
    StorageOptions options;
    const std::string repo = GetParam().unreadable_repo(m_scratch, options);
    std::unique_ptr<Storage> storage;
    WV_ASSERT_OK(open_storage(repo, options, storage));
    auto refused = [](const Status& s) { return !s.is_ok() && s.code() != Code::not_found; };
    ObjectInfo info;
    Status s = storage->head("wal/x.zst", info);
    EXPECT_TRUE(refused(s)) << "head: " << code_name(s.code()) << ": " << s.message();
    std::vector<uint8_t> out;
    s = storage->get("wal/x.zst", test::vector_sink(out));
    EXPECT_TRUE(refused(s)) << "get: " << code_name(s.code()) << ": " << s.message();
    s = storage->get_range("wal/x.zst", 0, 10, out);
    EXPECT_TRUE(refused(s)) << "get_range: " << code_name(s.code()) << ": " << s.message();
    std::vector<ObjectInfo> listed;
    s = storage->list("wal/", listed);
    EXPECT_TRUE(refused(s)) << "list: " << code_name(s.code()) << ": " << s.message();
    s = storage->remove("wal/x.zst");
    EXPECT_TRUE(refused(s)) << "remove: " << code_name(s.code()) << ": " << s.message();
    std::unique_ptr<Writer> w;
    s = storage->create("wal/x.zst", w);
    if (s.is_ok()) {
        s = w->write(reinterpret_cast<const uint8_t*>("x"), 1);
        if (s.is_ok())
            s = w->commit();
    }
    EXPECT_FALSE(s.is_ok()) << "create, write, commit";
}

TEST_P(StorageContract, SinkErrorStopsGetAndIsReturned)
{
    WV_ASSERT_OK(put("big", test::random_bytes(600000, 4)));
    const Status s =
        m_storage->get("big", [](const uint8_t*, size_t) { return Status::error(Code::corrupt, "sink says stop"); });
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("sink says stop"), std::string::npos) << s.message();
}

TEST_P(StorageContract, ListIsSortedByKeyAndFilteredByPrefix)
{
    // Put in an order that is not the sorted one; sizes tell the objects apart.
    WV_ASSERT_OK(put("b", "1"));
    WV_ASSERT_OK(put("ab", "22"));
    WV_ASSERT_OK(put("a/c/3", "333"));
    WV_ASSERT_OK(put("a/b/2", "4444"));
    WV_ASSERT_OK(put("a/b/1", "55555"));
    EXPECT_EQ(keys(""), (V{"a/b/1", "a/b/2", "a/c/3", "ab", "b"}));
    EXPECT_EQ(keys("a"), (V{"a/b/1", "a/b/2", "a/c/3", "ab"}));
    EXPECT_EQ(keys("a/"), (V{"a/b/1", "a/b/2", "a/c/3"}));
    EXPECT_EQ(keys("a/b"), (V{"a/b/1", "a/b/2"}));
    EXPECT_EQ(keys("a/b/"), (V{"a/b/1", "a/b/2"}));
    EXPECT_EQ(keys("a/b/2"), (V{"a/b/2"}));
    EXPECT_EQ(keys("b"), (V{"b"}));
    EXPECT_EQ(keys("c"), V{});
    EXPECT_EQ(keys("a/b/3"), V{});
    EXPECT_EQ(keys("zzz/"), V{});

    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage->list("a/", listed));
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].size, 5u);
    EXPECT_EQ(listed[1].size, 4u);
    EXPECT_EQ(listed[2].size, 3u);
    // Each listed object says when it was written: just now, by the clock of this machine (the store's
    // clock is this machine's here; S3 keeps seconds).
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    for (const ObjectInfo& o : listed) {
        EXPECT_GE(o.modified, now - 120) << o.key;
        EXPECT_LE(o.modified, now + 5) << o.key;
    }
}

TEST_P(StorageContract, ListRangeStartsAfterAKeyAndStopsAtMaxKeys)
{
    // Byte order: "a.x" < "a/b/1" ('.' sorts before '/'), "a/c/3" < "a0" ('/' before '0').
    for (const char* key : {"b", "a0", "a/c/3", "a/b/2", "a/b/1", "a.x"})
        WV_ASSERT_OK(put(key, key));
    EXPECT_EQ(keys("", {"", 0}), (V{"a.x", "a/b/1", "a/b/2", "a/c/3", "a0", "b"}));
    EXPECT_EQ(keys("", {"a.x", 0}), (V{"a/b/1", "a/b/2", "a/c/3", "a0", "b"}));
    EXPECT_EQ(keys("", {"a/", 0}), (V{"a/b/1", "a/b/2", "a/c/3", "a0", "b"}));
    EXPECT_EQ(keys("", {"a/b/1", 0}), (V{"a/b/2", "a/c/3", "a0", "b"}));
    EXPECT_EQ(keys("", {"a/b/9", 0}), (V{"a/c/3", "a0", "b"}));  // start_after need not exist
    EXPECT_EQ(keys("", {"a/z", 0}), (V{"a0", "b"}));
    EXPECT_EQ(keys("a", {"a/b/2", 0}), (V{"a/c/3", "a0"}));
    EXPECT_EQ(keys("a/", {"a/b/2", 0}), (V{"a/c/3"}));
    EXPECT_EQ(keys("", {"b", 0}), V{});
    // max_keys: the first ones. On a store that does not list in byte order, max_keys of the keys the
    // store lists first, still sorted, and no others (storage.h); where '.' and '/' meet, they differ.
    auto expect_first = [&](const std::string& prefix, const ListRange& range, const V& expected) {
        SCOPED_TRACE("prefix \"" + prefix + "\", start_after \"" + range.start_after + "\"");
        const V got = keys(prefix, range);
        if (GetParam().lists_in_byte_order) {
            EXPECT_EQ(got, expected);
            return;
        }
        const V all = keys(prefix, ListRange{range.start_after, 0});
        EXPECT_EQ(got.size(), expected.size());
        EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
        EXPECT_TRUE(std::includes(all.begin(), all.end(), got.begin(), got.end()));
    };
    expect_first("", {"", 2}, V{"a.x", "a/b/1"});
    expect_first("", {"a/b/1", 2}, V{"a/b/2", "a/c/3"});
    expect_first("a/", {"", 1}, V{"a/b/1"});
    expect_first("", {"a0", 5}, V{"b"});
    expect_first("b", {"", 1}, V{"b"});
    // Where no key has a '.' (or another byte below '/') after a common part, every store gives the first
    // ones in byte order: WAL keys are such keys.
    EXPECT_EQ(keys("a/", {"", 2}), (V{"a/b/1", "a/b/2"}));
    EXPECT_EQ(keys("a", {"a/b/1", 3}), (V{"a/b/2", "a/c/3", "a0"}));
}

TEST_P(StorageContract, RemoveIsIdempotent)
{
    WV_ASSERT_OK(put("wal/x", "x"));
    WV_ASSERT_OK(put("wal/y", "y"));
    WV_EXPECT_OK(m_storage->remove("wal/x"));
    ObjectInfo info;
    EXPECT_EQ(m_storage->head("wal/x", info).code(), Code::not_found);
    WV_EXPECT_OK(m_storage->remove("wal/x"));  // already absent: ok
    WV_EXPECT_OK(m_storage->remove("wal/never"));
    WV_EXPECT_OK(m_storage->remove("no/such/dir/obj"));
    EXPECT_EQ(keys(""), V{"wal/y"});
    EXPECT_EQ(get_text("wal/y"), "y");
}

TEST_P(StorageContract, RemoveManyRemovesPresentKeysAndIgnoresAbsentOnes)
{
    for (const char* key : {"a/1", "a/2", "a/3", "b/1", "b/2"})
        WV_ASSERT_OK(put(key, key));
    WV_EXPECT_OK(m_storage->remove_many({"a/1", "a/3", "never/existed", "b/2"}));
    EXPECT_EQ(keys(""), (V{"a/2", "b/1"}));
    WV_EXPECT_OK(m_storage->remove_many({}));
    WV_EXPECT_OK(m_storage->remove_many({"a/1"}));  // absent by now
    EXPECT_EQ(keys(""), (V{"a/2", "b/1"}));
}

TEST_P(StorageContract, SyncOfAnExistingObjectKeepsIt)
{
    const std::vector<uint8_t> data = test::random_bytes(5000, 5);
    WV_ASSERT_OK(put("wal/seg.zst", data));
    WV_EXPECT_OK(m_storage->sync("wal/seg.zst"));
    WV_EXPECT_OK(m_storage->sync("wal/seg.zst"));
    Status s;
    EXPECT_TRUE(get("wal/seg.zst", s) == data);
    WV_EXPECT_OK(s);
    EXPECT_EQ(keys(""), V{"wal/seg.zst"});
}

// One line per backend.
INSTANTIATE_TEST_SUITE_P(Posix, StorageContract, ::testing::Values(k_posix_backend), backend_name);
INSTANTIATE_TEST_SUITE_P(S3, StorageContract, ::testing::Values(k_s3rver_backend), backend_name);

}  // namespace
}  // namespace walvault
