// Writing past the page cache (O_DIRECT) where the file system takes it. Used for repository objects
// (posix storage) and for the files restore writes: bytes that nobody reads again soon should not be
// copied into new page-cache pages, which is the largest cost of writing on the development VM
// (docs/benchmarks.md, "This machine's memory"), nor evict the database's pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace walvault {

// Address, file offset and length of every direct transfer are multiples of this.
constexpr size_t k_direct_align = 4096;

struct AlignedFree {
    void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

// len bytes aligned to k_direct_align; null if out of memory.
AlignedBuffer make_aligned_buffer(size_t len);

// Turns O_DIRECT on or off for fd (its open file description); false if the file system refuses.
bool set_direct(int fd, bool on);

// A byte stream written to fd from an offset on, in order. With direct I/O the bytes are staged in an
// aligned buffer of `chunk` bytes (a multiple of k_direct_align) and written a whole buffer at a time past
// the page cache; flush() writes the whole blocks of what is staged directly and the rest, the tail that
// ends the stream, through the page cache. Without it (asked for none, an unaligned start, a file system
// that refuses O_DIRECT or a direct transfer with EINVAL) every write goes straight through the page
// cache. Nothing is fsynced. Errors are errno values, for the caller's message.
class DirectStream {
public:
    // direct: try O_DIRECT, which this sets on fd (and clears once it stops writing directly).
    DirectStream(int fd, uint64_t offset, bool direct, size_t chunk);
    DirectStream(const DirectStream&) = delete;
    DirectStream& operator=(const DirectStream&) = delete;

    // 0 or an errno. Without memory for the staging buffer the stream goes on through the page cache.
    int write(const uint8_t* data, size_t len);
    // Writes everything staged and clears O_DIRECT on fd (a reader after it may use any buffer); afterwards
    // the stream goes on through the page cache. 0 or an errno.
    int flush();

    bool direct() const { return m_direct; }           // still writing past the page cache
    uint64_t offset() const { return m_offset; }       // where the first staged byte goes
    uint8_t* buffer() const { return m_stage.get(); }  // the staging buffer (chunk bytes) once allocated, or null
    size_t chunk() const { return m_chunk; }

private:
    int write_through(const uint8_t* data, size_t len);
    int write_stage();
    void stop_direct();

    int m_fd;
    uint64_t m_offset;
    bool m_direct;
    size_t m_chunk;
    AlignedBuffer m_stage;
    size_t m_staged = 0;
};

}  // namespace walvault
