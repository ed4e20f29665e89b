// Unit tests for core/storage/posix/posix_storage on a temporary directory: what the directory backend adds
// to the Storage contracts (test/unit/test_storage_contract.cpp runs those): objects as files with their
// modes, O_DIRECT writes, locked and reused temporary files, one writer per key, hidden files, key validation.
#include "core/storage/posix/posix_storage.h"

#include "core/common/direct_io.h"
#include "test/unit/test_support.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace walvault {
namespace {

using test::dir_entries;
using test::TempDir;
using test::to_bytes;
using test::to_string;

// Writes key through the Storage interface and commits it.
Status put(Storage& storage, const std::string& key, const std::string& content)
{
    std::unique_ptr<Writer> w;
    Status s = storage.create(key, w);
    if (!s.is_ok())
        return s;
    s = w->write(reinterpret_cast<const uint8_t*>(content.data()), content.size());
    if (!s.is_ok())
        return s;
    return w->commit();
}

std::string get_text(Storage& storage, const std::string& key, Status* status = nullptr)
{
    std::vector<uint8_t> out;
    const Status s = storage.get(key, test::vector_sink(out));
    if (status)
        *status = s;
    return to_string(out);
}

// Places a file where the object of key lives, bypassing the writer.
void put_by_hand(const TempDir& root, const std::string& key, const std::vector<uint8_t>& content)
{
    const std::string path = root / key;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    test::write_file(path, content);
}

mode_t current_umask()
{
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return mask;
}

class PosixStorageTest : public ::testing::Test {
protected:
    TempDir m_dir;
    std::string m_root = m_dir / "repo";  // does not exist yet: created by the first write
    PosixStorage m_storage{m_root};
};

TEST_F(PosixStorageTest, Location)
{
    EXPECT_EQ(m_storage.location(), m_root);
    EXPECT_EQ(m_storage.location("wal/x.zst"), m_root + "/wal/x.zst");
    PosixStorage trailing(m_root + "//");
    EXPECT_EQ(trailing.location(), m_root);
    EXPECT_EQ(trailing.location("a"), m_root + "/a");
}

TEST_F(PosixStorageTest, IdentityIsTheRealPath)
{
    const std::string real = std::filesystem::canonical(m_dir.path()).string();
    // Not created yet: the real path of what exists, and the rest as given.
    EXPECT_EQ(m_storage.identity(), "file://" + real + "/repo");
    EXPECT_EQ(PosixStorage(m_root + "/a/b").identity(), "file://" + real + "/repo/a/b");
    std::filesystem::create_directories(m_root);
    EXPECT_EQ(m_storage.identity(), "file://" + real + "/repo");
    // Another name for the same directory is the same store; another directory is not.
    std::filesystem::create_directory_symlink(m_root, m_dir / "link");
    EXPECT_EQ(PosixStorage(m_dir / "link").identity(), m_storage.identity());
    EXPECT_EQ(PosixStorage(m_dir / "link/../repo").identity(), m_storage.identity());
    EXPECT_NE(PosixStorage(m_dir / "other").identity(), m_storage.identity());
    EXPECT_EQ(PosixStorage("/").identity(), "file:///");
}

TEST_F(PosixStorageTest, WriteCommitThenReadBack)
{
    const std::string key = "wal/0000000100000000/000000010000000000000003.zst";
    const std::vector<uint8_t> content = test::random_bytes(2 * test::k_mib + 333, 5);

    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage.create(key, w));
    ASSERT_NE(w, nullptr);
    // Written in uneven pieces.
    size_t pos = 0;
    for (size_t chunk : {size_t{1}, size_t{4096}, size_t{1000003}}) {
        WV_ASSERT_OK(w->write(content.data() + pos, chunk));
        pos += chunk;
    }
    WV_ASSERT_OK(w->write(content.data() + pos, content.size() - pos));
    WV_ASSERT_OK(w->commit());
    w.reset();

    EXPECT_EQ(test::read_file(m_root + "/" + key), content);

    ObjectInfo info;
    WV_ASSERT_OK(m_storage.head(key, info));
    EXPECT_EQ(info.key, key);
    EXPECT_EQ(info.size, content.size());

    std::vector<uint8_t> got;
    WV_ASSERT_OK(m_storage.get(key, test::vector_sink(got)));
    EXPECT_EQ(got, content);

    std::vector<uint8_t> range;
    WV_ASSERT_OK(m_storage.get_range(key, 1000, 5000, range));
    EXPECT_EQ(range, std::vector<uint8_t>(content.begin() + 1000, content.begin() + 6000));

    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("", listed));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].key, key);
    EXPECT_EQ(listed[0].size, content.size());

    // Only the object in its directory: the temporary file is gone.
    EXPECT_EQ(dir_entries(m_root + "/wal/0000000100000000"), std::vector<std::string>{"000000010000000000000003.zst"});

    WV_ASSERT_OK(m_storage.sync(key));
    WV_ASSERT_OK(m_storage.remove(key));
    EXPECT_EQ(m_storage.head(key, info).code(), Code::not_found);
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());
}

// Every size around the direct-I/O block and staging chunk, written in pieces that do not line up with
// either, with and without direct I/O: the stored bytes are exactly the written ones.
TEST_F(PosixStorageTest, RoundTripAtEveryAlignmentBoundary)
{
    const size_t chunk = k_posix_direct_chunk;
    const size_t block = k_direct_align;
    const std::vector<uint8_t> content = test::random_bytes(3 * chunk + block + 1, 11);
    PosixStorage buffered(m_root, false);
    for (Storage* storage : {static_cast<Storage*>(&m_storage), static_cast<Storage*>(&buffered)}) {
        for (size_t size : {size_t{1}, block - 1, block, block + 1, chunk - 1, chunk, chunk + 1, chunk + block,
                 3 * chunk + block + 1}) {
            for (size_t piece : {size_t{1000}, size_t{700001}}) {
                const std::string key = "r/" + std::to_string(storage == &m_storage) + "-" + std::to_string(size) +
                    "-" + std::to_string(piece);
                std::unique_ptr<Writer> w;
                WV_ASSERT_OK(storage->create(key, w));
                for (size_t pos = 0; pos < size; pos += piece)
                    WV_ASSERT_OK(w->write(content.data() + pos, std::min(piece, size - pos)));
                WV_ASSERT_OK(w->commit());
                EXPECT_EQ(test::read_file(m_root + "/" + key),
                    std::vector<uint8_t>(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(size)))
                    << key;
            }
        }
    }
}

// Pages of path that are in the page cache.
size_t cached_pages(const std::string& path, size_t size)
{
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0)
        return SIZE_MAX;
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED)
        return SIZE_MAX;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> resident((size + page - 1) / page);
    size_t n = SIZE_MAX;
    if (::mincore(map, size, resident.data()) == 0)
        n = static_cast<size_t>(std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }));
    ::munmap(map, size);
    return n;
}

// An archived object goes past the page cache (it is not read again soon and should not evict the
// database's pages): after commit at most the last, partial block is cached. Written through the page
// cache (direct_io = false), all of it is, which shows that the check can tell.
TEST_F(PosixStorageTest, ObjectsAreWrittenPastThePageCache)
{
    std::filesystem::create_directories(m_root);
    {
        const std::string probe = m_root + "/probe";
        const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0600);
        ASSERT_GE(fd, 0) << "the test directory's file system must accept O_DIRECT: " << m_root;
        ::close(fd);
        ::unlink(probe.c_str());
    }
    const std::vector<uint8_t> content = test::random_bytes(3 * test::k_mib + 100, 12);
    const size_t pages = (content.size() + 4095) / 4096;
    WV_ASSERT_OK(put(m_storage, "direct", to_string(content)));
    EXPECT_LE(cached_pages(m_root + "/direct", content.size()), 1u);
    PosixStorage buffered(m_root, false);
    WV_ASSERT_OK(put(buffered, "buffered", to_string(content)));
    EXPECT_EQ(cached_pages(m_root + "/buffered", content.size()), pages);
    EXPECT_EQ(test::read_file(m_root + "/direct"), content);
    EXPECT_EQ(test::read_file(m_root + "/buffered"), content);
}

TEST_F(PosixStorageTest, CommittedObjectHasFileMode)
{
    WV_ASSERT_OK(put(m_storage, "a/b", "x"));
    struct stat st;
    ASSERT_EQ(::stat((m_root + "/a/b").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, k_posix_file_mode & ~current_umask());
    ASSERT_EQ(::stat((m_root + "/a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, k_posix_dir_mode & ~current_umask());
}

TEST_F(PosixStorageTest, NothingVisibleBeforeCommit)
{
    const std::string key = "wal/x.zst";
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage.create(key, w));
    const std::string text = "not yet";
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>(text.data()), text.size()));

    ObjectInfo info;
    EXPECT_EQ(m_storage.head(key, info).code(), Code::not_found);
    Status s;
    get_text(m_storage, key, &s);
    EXPECT_EQ(s.code(), Code::not_found);
    std::vector<uint8_t> range;
    EXPECT_EQ(m_storage.get_range(key, 0, 10, range).code(), Code::not_found);
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());
    // The write in progress is the hidden temporary file beside the object.
    EXPECT_EQ(dir_entries(m_root + "/wal"), std::vector<std::string>{".x.zst.tmp"});

    WV_ASSERT_OK(w->commit());
    WV_ASSERT_OK(m_storage.head(key, info));
    EXPECT_EQ(info.size, text.size());
    EXPECT_EQ(get_text(m_storage, key), text);
}

TEST_F(PosixStorageTest, CreateOnlySecondCommitIsAlreadyExists)
{
    const std::string key = "wal/seg.zst";
    WV_ASSERT_OK(put(m_storage, key, "first"));

    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage.create(key, w));
    const std::string second = "second content";
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>(second.data()), second.size()));
    const Status s = w->commit();
    EXPECT_EQ(s.code(), Code::already_exists);
    EXPECT_EQ(s.message(), "object \"" + m_root + "/" + key + "\" already exists");
    w->abort();
    w.reset();

    EXPECT_EQ(get_text(m_storage, key), "first");
    EXPECT_EQ(dir_entries(m_root + "/wal"), std::vector<std::string>{"seg.zst"});
}

TEST_F(PosixStorageTest, FailedCommitThenDestructorLeavesNoTempFile)
{
    WV_ASSERT_OK(put(m_storage, "k", "first"));
    {
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(m_storage.create("k", w));
        WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("zz"), 2));
        EXPECT_EQ(w->commit().code(), Code::already_exists);
    }
    EXPECT_EQ(dir_entries(m_root), std::vector<std::string>{"k"});
    EXPECT_EQ(get_text(m_storage, "k"), "first");
}

TEST_F(PosixStorageTest, AbortLeavesNoFile)
{
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage.create("dir/obj", w));
    const std::vector<uint8_t> data = test::random_bytes(100000, 3);
    WV_ASSERT_OK(w->write(data.data(), data.size()));
    w->abort();
    w->abort();  // twice is harmless
    EXPECT_TRUE(dir_entries(m_root + "/dir").empty());
    ObjectInfo info;
    EXPECT_EQ(m_storage.head("dir/obj", info).code(), Code::not_found);

    // After abort the writer refuses more work.
    EXPECT_EQ(w->write(data.data(), 1).code(), Code::invalid);
    EXPECT_EQ(w->commit().code(), Code::invalid);
    EXPECT_TRUE(dir_entries(m_root + "/dir").empty());
}

TEST_F(PosixStorageTest, DestructorAborts)
{
    {
        std::unique_ptr<Writer> w;
        WV_ASSERT_OK(m_storage.create("dir/obj", w));
        WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("abc"), 3));
    }
    EXPECT_TRUE(dir_entries(m_root + "/dir").empty());
}

TEST_F(PosixStorageTest, WriteAndCommitAfterCommitAreInvalid)
{
    std::unique_ptr<Writer> w;
    WV_ASSERT_OK(m_storage.create("obj", w));
    WV_ASSERT_OK(w->write(reinterpret_cast<const uint8_t*>("abc"), 3));
    WV_ASSERT_OK(w->commit());
    EXPECT_EQ(w->write(reinterpret_cast<const uint8_t*>("d"), 1).code(), Code::invalid);
    EXPECT_EQ(w->commit().code(), Code::invalid);
    w->abort();  // harmless after commit: the object stays
    w.reset();
    EXPECT_EQ(get_text(m_storage, "obj"), "abc");
}

TEST_F(PosixStorageTest, TempFileOfACrashedWriterIsReusedAndRemoved)
{
    // A writer "crashed" after writing part of its temporary file.
    std::filesystem::create_directories(m_root + "/wal");
    test::write_file(m_root + "/wal/.seg.zst.tmp", std::string(10000, 'G'));

    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());

    WV_ASSERT_OK(put(m_storage, "wal/seg.zst", "fresh"));
    EXPECT_EQ(get_text(m_storage, "wal/seg.zst"), "fresh");
    EXPECT_EQ(dir_entries(m_root + "/wal"), std::vector<std::string>{"seg.zst"});
}

TEST_F(PosixStorageTest, SecondWriterOfTheSameKeyIsBusy)
{
    std::unique_ptr<Writer> first;
    WV_ASSERT_OK(m_storage.create("wal/seg.zst", first));
    WV_ASSERT_OK(first->write(reinterpret_cast<const uint8_t*>("one"), 3));

    std::unique_ptr<Writer> second;
    const Status s = m_storage.create("wal/seg.zst", second);
    EXPECT_EQ(s.code(), Code::busy);
    EXPECT_EQ(s.message(), "another process is writing \"" + m_root + "/wal/seg.zst\" at the same time");
    EXPECT_EQ(s.hint(),
        "Another cluster of the same database system, such as a standby with archive_mode = always, may be "
        "archiving the same file at the same time. That is harmless when the content is identical: the next "
        "attempt finds the identical object and succeeds.");
    EXPECT_EQ(second, nullptr);

    // Another storage object on the same directory is just as excluded.
    PosixStorage other(m_root);
    EXPECT_EQ(other.create("wal/seg.zst", second).code(), Code::busy);

    // A different key is not affected.
    WV_ASSERT_OK(put(m_storage, "wal/other.zst", "x"));

    // The first writer's data is intact after the refused attempts.
    WV_ASSERT_OK(first->commit());
    first.reset();
    EXPECT_EQ(get_text(m_storage, "wal/seg.zst"), "one");

    // Once it is done, the key can be written again (and is then taken).
    WV_ASSERT_OK(m_storage.create("wal/seg.zst", second));
    WV_ASSERT_OK(second->write(reinterpret_cast<const uint8_t*>("two"), 3));
    EXPECT_EQ(second->commit().code(), Code::already_exists);
    second.reset();
    EXPECT_EQ(get_text(m_storage, "wal/seg.zst"), "one");
    EXPECT_EQ(dir_entries(m_root + "/wal"), (std::vector<std::string>{"other.zst", "seg.zst"}));
}

TEST_F(PosixStorageTest, ListIsSortedFilteredAndIgnoresHiddenFiles)
{
    put_by_hand(m_dir, "repo/b", to_bytes("1"));
    put_by_hand(m_dir, "repo/ab", to_bytes("22"));
    put_by_hand(m_dir, "repo/a/c/3", to_bytes("333"));
    put_by_hand(m_dir, "repo/a/b/2", to_bytes("4444"));
    put_by_hand(m_dir, "repo/a/b/1", to_bytes("55555"));
    put_by_hand(m_dir, "repo/a/b/.1.tmp", to_bytes("hidden"));
    put_by_hand(m_dir, "repo/a/.hidden/x", to_bytes("hidden"));
    put_by_hand(m_dir, "repo/.ab.tmp", to_bytes("hidden"));
    std::filesystem::create_directories(m_root + "/emptydir");

    auto keys = [&](const std::string& prefix) { return test::listed_keys(m_storage, prefix); };
    using V = std::vector<std::string>;
    EXPECT_EQ(keys(""), (V{"a/b/1", "a/b/2", "a/c/3", "ab", "b"}));
    EXPECT_EQ(keys("a"), (V{"a/b/1", "a/b/2", "a/c/3", "ab"}));
    EXPECT_EQ(keys("a/"), (V{"a/b/1", "a/b/2", "a/c/3"}));
    EXPECT_EQ(keys("a/b"), (V{"a/b/1", "a/b/2"}));
    EXPECT_EQ(keys("a/b/"), (V{"a/b/1", "a/b/2"}));
    EXPECT_EQ(keys("a/b/2"), (V{"a/b/2"}));
    EXPECT_EQ(keys("a/c/3"), (V{"a/c/3"}));
    EXPECT_EQ(keys("b"), (V{"b"}));
    EXPECT_EQ(keys("c"), V{});
    EXPECT_EQ(keys("a/b/3"), V{});
    EXPECT_EQ(keys("zzz/"), V{});
    EXPECT_EQ(keys("emptydir/"), V{});

    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("a/", listed));
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].size, 5u);
    EXPECT_EQ(listed[1].size, 4u);
    EXPECT_EQ(listed[2].size, 3u);
}

// max_keys stops the walk: the keys come in byte order across directories and files ("a.x" before "a/...",
// since '.' sorts before '/'), so the first N are the first N in byte order, whatever is left unread.
TEST_F(PosixStorageTest, ListWithMaxKeysTakesTheFirstInByteOrder)
{
    for (const char* key : {"repo/a/c", "repo/a/b", "repo/a.x", "repo/a0", "repo/b/z/1", "repo/b/y"})
        put_by_hand(m_dir, key, to_bytes("1"));
    using V = std::vector<std::string>;
    auto first = [&](const std::string& after, size_t n) { return test::listed_keys(m_storage, "", {after, n}); };
    EXPECT_EQ(first("", 1), (V{"a.x"}));
    EXPECT_EQ(first("a.x", 1), (V{"a/b"}));
    EXPECT_EQ(first("a/b", 2), (V{"a/c", "a0"}));
    EXPECT_EQ(first("a0", 1), (V{"b/y"}));
    EXPECT_EQ(first("b/y", 5), (V{"b/z/1"}));
    EXPECT_EQ(first("a/", 3), (V{"a/b", "a/c", "a0"}));
    EXPECT_EQ(test::listed_keys(m_storage, "b", {"", 1}), (V{"b/y"}));
}

TEST_F(PosixStorageTest, ListNeverLeavesTheRepository)
{
    // No valid key starts with "..": a prefix that does cannot name objects of this repository.
    put_by_hand(m_dir, "outside", to_bytes("not ours"));
    put_by_hand(m_dir, "repo/a/b", to_bytes("ours"));
    for (const char* prefix : {"../", "..", "a/../../", "../repo/"}) {
        std::vector<ObjectInfo> listed;
        const Status s = m_storage.list(prefix, listed);
        EXPECT_TRUE(s.is_ok() || s.code() == Code::invalid) << prefix << ": " << s.message();
        for (const ObjectInfo& o : listed)
            ADD_FAILURE() << "list(\"" << prefix << "\") returned \"" << o.key << "\"";
    }
}

TEST_F(PosixStorageTest, ListOfAMissingRepositoryIsEmpty)
{
    std::vector<ObjectInfo> listed{ObjectInfo{"stale", 1}};
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());
    WV_ASSERT_OK(m_storage.list("wal/", listed));
    EXPECT_TRUE(listed.empty());
}

TEST_F(PosixStorageTest, DirectoriesAreNotObjects)
{
    // list() reports regular files only; head() must agree with it.
    put_by_hand(m_dir, "repo/wal/0000000100000000/x.zst", to_bytes("x"));
    for (const char* key : {"wal", "wal/0000000100000000"}) {
        ObjectInfo info;
        EXPECT_EQ(m_storage.head(key, info).code(), Code::not_found) << key;
    }
}

TEST_F(PosixStorageTest, GetStreamsInChunksAndStopsOnSinkError)
{
    const std::vector<uint8_t> content = test::random_bytes(2 * k_posix_io_chunk + 5, 9);
    put_by_hand(m_dir, "repo/big", content);

    std::vector<size_t> sizes;
    std::vector<uint8_t> got;
    WV_ASSERT_OK(m_storage.get("big", [&](const uint8_t* d, size_t n) {
        sizes.push_back(n);
        got.insert(got.end(), d, d + n);
        return Status::ok();
    }));
    EXPECT_EQ(got, content);
    EXPECT_EQ(sizes, (std::vector<size_t>{k_posix_io_chunk, k_posix_io_chunk, 5}));

    int calls = 0;
    const Status s = m_storage.get("big", [&](const uint8_t*, size_t) {
        ++calls;
        return Status::error(Code::corrupt, "sink says stop");
    });
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "sink says stop");
    EXPECT_EQ(calls, 1);
}

TEST_F(PosixStorageTest, RemoveOfAKeyInAMissingDirectoryIsOk)
{
    // storage.h: "Deletes an object; ok if it was already absent."
    WV_EXPECT_OK(m_storage.remove("no/such/dir/obj"));
    std::filesystem::create_directories(m_root);
    WV_EXPECT_OK(m_storage.remove("nodir/obj"));
}

TEST_F(PosixStorageTest, SyncOfMissingKeyIsNotFound)
{
    EXPECT_EQ(m_storage.sync("missing").code(), Code::not_found);
    EXPECT_EQ(m_storage.sync("wal/missing.zst").code(), Code::not_found);
    put_by_hand(m_dir, "repo/wal/present", to_bytes("p"));
    WV_EXPECT_OK(m_storage.sync("wal/present"));
}

TEST_F(PosixStorageTest, SyncRemovesATempFileLeftByACrashedWriter)
{
    WV_ASSERT_OK(put(m_storage, "wal/seg.zst", "object"));
    // A writer crashed after link() and before unlink(): its temp file is still there, unlocked.
    test::write_file(m_root + "/wal/.seg.zst.tmp", std::string("object"));
    WV_ASSERT_OK(m_storage.sync("wal/seg.zst"));
    EXPECT_EQ(dir_entries(m_root + "/wal"), std::vector<std::string>{"seg.zst"});
    EXPECT_EQ(get_text(m_storage, "wal/seg.zst"), "object");
}

TEST_F(PosixStorageTest, SyncLeavesALiveWritersTempFileAlone)
{
    WV_ASSERT_OK(put(m_storage, "wal/seg.zst", "object"));
    std::unique_ptr<Writer> live;
    WV_ASSERT_OK(m_storage.create("wal/seg.zst", live));
    WV_ASSERT_OK(live->write(reinterpret_cast<const uint8_t*>("again"), 5));
    WV_ASSERT_OK(m_storage.sync("wal/seg.zst"));
    EXPECT_EQ(dir_entries(m_root + "/wal"), (std::vector<std::string>{".seg.zst.tmp", "seg.zst"}));
    EXPECT_EQ(live->commit().code(), Code::already_exists);
    live.reset();
    EXPECT_EQ(dir_entries(m_root + "/wal"), std::vector<std::string>{"seg.zst"});
    EXPECT_EQ(get_text(m_storage, "wal/seg.zst"), "object");
}

TEST_F(PosixStorageTest, InvalidKeysAreRefusedEverywhere)
{
    put_by_hand(m_dir, "x", to_bytes("outside the repository"));
    put_by_hand(m_dir, "repo/a/b", to_bytes("inside"));
    const char* const bad[] = {
        "../x", "/abs", "a//b", ".hidden", "a/.b", "", "a/", "./a", "a/..", "a/../b", "a/./b", "..", "."};
    for (const char* key : bad) {
        SCOPED_TRACE(std::string("key \"") + key + "\"");
        const std::string msg = std::string("invalid object key \"") + key + "\"";
        ObjectInfo info;
        Status s = m_storage.head(key, info);
        EXPECT_EQ(s.code(), Code::invalid);
        EXPECT_EQ(s.message(), msg);
        std::unique_ptr<Writer> w;
        s = m_storage.create(key, w);
        EXPECT_EQ(s.code(), Code::invalid);
        EXPECT_EQ(s.message(), msg);
        EXPECT_EQ(w, nullptr);
        std::vector<uint8_t> out;
        EXPECT_EQ(m_storage.get(key, test::vector_sink(out)).code(), Code::invalid);
        EXPECT_EQ(m_storage.get_range(key, 0, 10, out).code(), Code::invalid);
        EXPECT_EQ(m_storage.remove(key).code(), Code::invalid);
        EXPECT_EQ(m_storage.sync(key).code(), Code::invalid);
    }
    // Nothing was created or removed.
    EXPECT_EQ(test::read_file(m_dir / "x"), to_bytes("outside the repository"));
    EXPECT_EQ(test::read_file(m_root + "/a/b"), to_bytes("inside"));
    EXPECT_EQ(dir_entries(m_dir.path()), (std::vector<std::string>{"repo", "x"}));
}

TEST(MakeDirectories, CreatesNestedDirectories)
{
    TempDir dir;
    const std::string deep = dir / "a/b/c/d";
    WV_ASSERT_OK(make_directories(deep));
    for (const char* rel : {"a", "a/b", "a/b/c", "a/b/c/d"}) {
        struct stat st;
        ASSERT_EQ(::stat((dir / rel).c_str(), &st), 0) << rel;
        EXPECT_TRUE(S_ISDIR(st.st_mode)) << rel;
        EXPECT_EQ(st.st_mode & 0777, k_posix_dir_mode & ~current_umask()) << rel;
    }
    WV_EXPECT_OK(make_directories(deep));  // already there
    WV_EXPECT_OK(make_directories(dir.path()));
}

TEST(MakeDirectories, RegularFileInTheWay)
{
    TempDir dir;
    test::write_file(dir / "file", std::string("x"));
    Status s = make_directories(dir / "file");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "\"" + (dir / "file") + "\" exists but is not a directory");
    s = make_directories(dir / "file/sub");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "\"" + (dir / "file") + "\" exists but is not a directory");
}

TEST_F(PosixStorageTest, RemoveManyRemovesTheDirectoriesItEmpties)
{
    for (const char* key : {"backup/b1/data/base/1/1259.zst", "backup/b1/data/base/1/1260.zst", "backup/b1/backup.json",
             "backup/b2/backup.json", "wal/0000000100000000/000000010000000000000001.zst"})
        WV_ASSERT_OK(test::put_object(m_storage, key, "x"));
    WV_ASSERT_OK(m_storage.remove_many({"backup/b1/data/base/1/1259.zst", "backup/b1/data/base/1/1260.zst",
        "backup/b1/backup.json", "wal/0000000100000000/000000010000000000000001.zst", "backup/b1/absent.zst"}));
    EXPECT_FALSE(test::file_exists(m_root + "/backup/b1"));
    EXPECT_FALSE(test::file_exists(m_root + "/wal/0000000100000000"));
    EXPECT_TRUE(test::file_exists(m_root + "/wal"));  // the top-level directories stay
    EXPECT_TRUE(test::file_exists(m_root + "/backup/b2/backup.json"));
    EXPECT_EQ(test::listed_keys(m_storage, ""), (std::vector<std::string>{"backup/b2/backup.json"}));
}

}  // namespace
}  // namespace walvault
