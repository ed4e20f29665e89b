// Unit tests for core/common/file_io: fsync_directory, read_small_file and write_small_file, the one copy of
// each that the posix storage, the spool, restore and the credentials reader share.
#include "core/common/file_io.h"

#include "test/unit/test_support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace walvault {
namespace {

using test::dir_entries;
using test::TempDir;
using test::to_string;

TEST(FsyncDirectory, ExistingMissingAndNotADirectory)
{
    TempDir dir;
    WV_EXPECT_OK(fsync_directory(dir.path()));
    Status s = fsync_directory(dir / "missing");
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "could not open directory \"" + (dir / "missing") + "\": " + errno_text(ENOENT));
    test::write_file(dir / "file", "x");
    s = fsync_directory(dir / "file");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "could not open directory \"" + (dir / "file") + "\": " + errno_text(ENOTDIR));
}

TEST(ReadSmallFile, WholeFileAndItsStat)
{
    TempDir dir;
    test::write_file(dir / "f", "line one\nline two\n");
    bool present = false;
    std::string text = "left over";
    struct stat st { };
    WV_EXPECT_OK(read_small_file(dir / "f", 18, present, text, &st));
    EXPECT_TRUE(present);
    EXPECT_EQ(text, "line one\nline two\n");
    EXPECT_EQ(st.st_size, 18);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(ReadSmallFile, NothingThereIsNotAnError)
{
    TempDir dir;
    test::write_file(dir / "file", "x");
    for (const std::string& path : {dir / "missing", dir / "missing/below", dir / "file/below"}) {
        SCOPED_TRACE(path);
        bool present = true;
        std::string text = "left over";
        WV_EXPECT_OK(read_small_file(path, 100, present, text));
        EXPECT_FALSE(present);
        EXPECT_EQ(text, "");
    }
}

TEST(ReadSmallFile, RefusesWhatIsNotARegularFile)
{
    TempDir dir;
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);  // must not block: nobody writes to it
    for (const std::string& path : {dir.path(), dir / "fifo"}) {
        SCOPED_TRACE(path);
        bool present = true;
        std::string text;
        const Status s = read_small_file(path, 100, present, text);
        EXPECT_EQ(s.code(), Code::invalid);
        EXPECT_EQ(s.message(), "\"" + path + "\" is not a regular file");
        EXPECT_FALSE(present);
    }
}

TEST(ReadSmallFile, SizeLimit)
{
    TempDir dir;
    test::write_file(dir / "f", "12345");
    bool present = false;
    std::string text;
    WV_EXPECT_OK(read_small_file(dir / "f", 5, present, text));
    EXPECT_EQ(text, "12345");
    const Status s = read_small_file(dir / "f", 4, present, text);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "file \"" + (dir / "f") + "\" is too large (5 bytes, at most 4)");
    EXPECT_FALSE(present);
    EXPECT_EQ(text, "");
}

TEST(ReadSmallFile, SizeLimitHoldsWhereStatSaysZero)
{
    // Files in /proc report st_size 0; the limit is enforced on the bytes read. boot_id is a UUID and '\n'.
    const std::string path = "/proc/sys/kernel/random/boot_id";
    bool present = false;
    std::string text;
    WV_EXPECT_OK(read_small_file(path, 100, present, text));
    EXPECT_TRUE(present);
    EXPECT_EQ(text.size(), 37u);
    const Status s = read_small_file(path, 16, present, text);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "file \"" + path + "\" is too large (37 bytes, at most 16)");
}

TEST(WriteSmallFile, CreatesAndReplacesWithMode0600)
{
    TempDir dir;
    WV_EXPECT_OK(write_small_file(dir / "f", "first", ".new"));
    EXPECT_EQ(to_string(test::read_file(dir / "f")), "first");
    WV_EXPECT_OK(write_small_file(dir / "f", "", ".new"));
    EXPECT_EQ(to_string(test::read_file(dir / "f")), "");
    WV_EXPECT_OK(write_small_file(dir / "f", "second\n", ".new"));
    EXPECT_EQ(to_string(test::read_file(dir / "f")), "second\n");
    struct stat st { };
    ASSERT_EQ(::stat((dir / "f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"f"});  // no temporary file left
}

TEST(WriteSmallFile, FailureLeavesNoTemporaryFileAndTheTargetAlone)
{
    TempDir dir;
    Status s = write_small_file(dir / "missing/f", "x", ".new");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "could not create file \"" + (dir / "missing/f.new") + "\": " + errno_text(ENOENT));

    // A non-empty directory at the path: the rename fails, the directory and its content stay.
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0700), 0);
    test::write_file(dir / "d/inside", "kept");
    s = write_small_file(dir / "d", "x", ".new");
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message().rfind("could not rename \"" + (dir / "d.new") + "\" to \"" + (dir / "d") + "\": ", 0), 0u)
        << s.message();
    EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{"d"});
    EXPECT_EQ(to_string(test::read_file(dir / "d/inside")), "kept");
}

}  // namespace
}  // namespace walvault
