// Unit tests for core/common/direct_io: a DirectStream writes exactly the bytes given at exactly their
// offsets, whatever the sizes of the writes and whether it writes past the page cache or not, and writes
// directly only where offsets allow it.
#include "core/common/direct_io.h"

#include "test/unit/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

constexpr size_t k_chunk = 64 * 1024;

class DirectIo : public ::testing::Test {
protected:
    int open_file(const std::string& name)
    {
        const int fd = ::open((m_dir.path() + "/" + name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        return fd;
    }
    // Whether this file system takes O_DIRECT at all (tmpfs before Linux 6.6 does not).
    bool file_system_takes_direct()
    {
        const int fd = open_file("probe");
        const bool on = set_direct(fd, true);
        ::close(fd);
        return on;
    }
    std::vector<uint8_t> read(const std::string& name) { return test::read_file(m_dir.path() + "/" + name); }

    TempDir m_dir;
};

TEST_F(DirectIo, StreamWritesEveryByteInOrder)
{
    const bool direct_fs = file_system_takes_direct();
    const std::vector<uint8_t> data = test::random_bytes(3 * k_chunk + 1000, 3);
    for (bool overlap : {false, true})
        for (size_t piece : {size_t{1}, size_t{4095}, size_t{k_chunk}, size_t{100000}}) {
            SCOPED_TRACE(std::string(overlap ? "overlap, " : "") + "writes of " + std::to_string(piece));
            const std::string name = std::string(overlap ? "o" : "f") + std::to_string(piece);
            const int fd = open_file(name);
            DirectStream out(fd, 0, true, k_chunk, overlap);
            EXPECT_EQ(out.direct(), direct_fs);
            for (size_t at = 0; at < data.size(); at += piece)
                ASSERT_EQ(out.write(data.data() + at, std::min(piece, data.size() - at)), 0);
            // Three whole chunks went past the page cache; the last 1000 bytes wait in the buffer.
            EXPECT_EQ(out.direct(), direct_fs) << piece;
            EXPECT_EQ(out.offset(), direct_fs ? 3 * k_chunk : data.size()) << piece;
            ASSERT_EQ(out.flush(), 0);
            EXPECT_FALSE(out.direct());  // the tail went through the page cache
            EXPECT_EQ(out.offset(), data.size());
            EXPECT_EQ(::fcntl(fd, F_GETFL) & O_DIRECT, 0);  // and the descriptor is an ordinary one again
            ::close(fd);
            EXPECT_EQ(read(name), data) << piece;
        }
}

TEST_F(DirectIo, FlushOfWholeChunksLeavesAnOrdinaryDescriptor)
{
    const std::vector<uint8_t> data = test::random_bytes(2 * k_chunk, 8);
    const int fd = open_file("f");
    DirectStream out(fd, 0, true, k_chunk);
    ASSERT_EQ(out.write(data.data(), data.size()), 0);
    ASSERT_EQ(out.flush(), 0);  // nothing staged: every byte went past the page cache already
    EXPECT_FALSE(out.direct());
    EXPECT_EQ(::fcntl(fd, F_GETFL) & O_DIRECT, 0);
    // So a read into an unaligned buffer works on the same descriptor.
    std::vector<uint8_t> back(data.size() + 1);
    EXPECT_EQ(::pread(fd, back.data() + 1, data.size(), 0), static_cast<ssize_t>(data.size()));
    ::close(fd);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 1));
}

// With overlap, full buffers are written on the stream's thread while the next one fills: many of them,
// at a start offset, give exactly the bytes, and a stream dropped without flush() waits for its write.
TEST_F(DirectIo, OverlappedStreamOfManyChunks)
{
    const std::vector<uint8_t> data = test::random_bytes(40 * k_chunk + 12345, 9);
    const std::vector<uint8_t> head = test::random_bytes(k_chunk, 10);
    test::write_file(m_dir.path() + "/f", head);
    const int fd = open_file("f");
    {
        DirectStream out(fd, k_chunk, true, k_chunk, true);
        for (size_t at = 0; at < data.size(); at += 7777)
            ASSERT_EQ(out.write(data.data() + at, std::min<size_t>(7777, data.size() - at)), 0);
        ASSERT_EQ(out.flush(), 0);
        EXPECT_EQ(out.offset(), k_chunk + data.size());
    }
    {
        DirectStream dropped(fd, k_chunk, true, k_chunk, true);
        ASSERT_EQ(dropped.write(data.data(), 2 * k_chunk), 0);  // the second chunk still in flight here
    }
    ::close(fd);
    std::vector<uint8_t> expected = head;
    expected.insert(expected.end(), data.begin(), data.end());
    EXPECT_TRUE(read("f") == expected);
}

TEST_F(DirectIo, StreamStartsAtItsOffsetAndLeavesTheRestAlone)
{
    const std::vector<uint8_t> before = test::random_bytes(3 * k_chunk, 4);
    test::write_file(m_dir.path() + "/f", before);
    const std::vector<uint8_t> data = test::random_bytes(k_chunk + 4096, 5);
    const int fd = open_file("f");
    DirectStream out(fd, k_chunk, true, k_chunk);
    ASSERT_EQ(out.write(data.data(), data.size()), 0);
    ASSERT_EQ(out.flush(), 0);
    ::close(fd);
    std::vector<uint8_t> expected = before;
    std::copy(data.begin(), data.end(), expected.begin() + k_chunk);
    EXPECT_EQ(read("f"), expected);
}

TEST_F(DirectIo, UnalignedOffsetOrNoDirectGoesThroughThePageCache)
{
    const std::vector<uint8_t> data = test::random_bytes(2 * k_chunk, 6);
    const int fd = open_file("f");
    DirectStream unaligned(fd, 100, true, k_chunk);
    EXPECT_FALSE(unaligned.direct());
    ASSERT_EQ(unaligned.write(data.data(), data.size()), 0);
    EXPECT_EQ(unaligned.offset(), 100 + data.size());  // written at once, nothing staged
    EXPECT_EQ(unaligned.buffer(), nullptr);
    ASSERT_EQ(unaligned.flush(), 0);
    DirectStream buffered(fd, 100 + data.size(), false, k_chunk);
    EXPECT_FALSE(buffered.direct());
    ASSERT_EQ(buffered.write(data.data(), 10), 0);
    ::close(fd);
    std::vector<uint8_t> expected(100, 0);
    expected.insert(expected.end(), data.begin(), data.end());
    expected.insert(expected.end(), data.begin(), data.begin() + 10);
    EXPECT_EQ(read("f"), expected);
}

}  // namespace
}  // namespace walvault
