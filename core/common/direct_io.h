// Writing past the page cache (O_DIRECT) where the file system takes it. Used for repository objects
// (posix storage) and for the files restore writes: bytes that nobody reads again soon should not be
// copied into new page-cache pages, which is the largest cost of writing on the development VM
// (docs/benchmarks.md, "This machine's memory"), nor evict the database's pages.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

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
// With overlap, a full buffer is written on a thread of the stream's own while the caller fills a second
// one: a direct write returns only once the device has the bytes, and the caller decodes meanwhile
// (restore: 7-9 % faster in alternating runs, docs/benchmarks.md, "Restore writes past the page cache").
// An error of that write is returned by the next call.
// One caller thread per stream.
class DirectStream {
public:
    // direct: try O_DIRECT, which this sets on fd (and clears once it stops writing directly).
    // overlap: write full buffers on a second thread (two buffers of chunk bytes instead of one).
    DirectStream(int fd, uint64_t offset, bool direct, size_t chunk, bool overlap = false);
    ~DirectStream();  // waits for a write in flight; bytes still staged without a flush() are dropped
    DirectStream(const DirectStream&) = delete;
    DirectStream& operator=(const DirectStream&) = delete;

    // 0 or an errno. Without memory for the staging buffer the stream goes on through the page cache.
    int write(const uint8_t* data, size_t len);
    // Waits for the write in flight, writes everything staged and clears O_DIRECT on fd (a reader after it may use any
    // buffer); afterwards the stream goes on through the page cache. 0 or an errno.
    int flush();

    bool direct() const { return m_direct; }           // still writing past the page cache
    uint64_t offset() const { return m_offset; }       // where the first staged byte goes
    uint8_t* buffer() const { return m_stage.get(); }  // the staging buffer (chunk bytes) once allocated, or null
    size_t chunk() const { return m_chunk; }

private:
    int write_through(const uint8_t* data, size_t len);
    int write_stage();
    int submit_stage();
    int wait_in_flight();
    void write_in_flight();
    void stop_direct();

    int m_fd;
    uint64_t m_offset;
    bool m_direct;
    size_t m_chunk;
    AlignedBuffer m_stage;
    size_t m_staged = 0;

    // overlap: the writer thread writes m_spare (m_flight_len bytes at m_flight_offset) while m_busy.
    bool m_overlap;
    AlignedBuffer m_spare;
    std::thread m_writer;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_busy = false;
    bool m_quit = false;
    size_t m_flight_len = 0;
    uint64_t m_flight_offset = 0;
    int m_flight_error = 0;
};

}  // namespace walvault
