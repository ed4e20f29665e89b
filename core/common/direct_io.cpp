#include "core/common/direct_io.h"

#include "core/common/file_io.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace walvault {

AlignedBuffer make_aligned_buffer(size_t len)
{
    void* p = nullptr;
    if (::posix_memalign(&p, k_direct_align, len) != 0)
        return AlignedBuffer();
    return AlignedBuffer(static_cast<uint8_t*>(p));
}

bool set_direct(int fd, bool on)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0)
        return false;
    return ::fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0;
}

DirectStream::DirectStream(int fd, uint64_t offset, bool direct, size_t chunk, bool overlap)
    : m_fd(fd)
    , m_offset(offset)
    , m_direct(
          direct && offset % k_direct_align == 0 && chunk % k_direct_align == 0 && chunk > 0 && set_direct(fd, true))
    , m_chunk(chunk)
    , m_overlap(overlap)
{
}

DirectStream::~DirectStream()
{
    if (m_writer.joinable()) {
        {
            std::lock_guard lock(m_mutex);
            m_quit = true;
        }
        m_changed.notify_all();
        m_writer.join();
    }
}

// The writer thread (overlap): one write at a time, from m_spare.
void DirectStream::write_in_flight()
{
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_changed.wait(lock, [this] { return m_busy || m_quit; });
        if (!m_busy)
            return;
        const size_t len = m_flight_len;
        const uint64_t offset = m_flight_offset;
        lock.unlock();
        const int err = pwrite_fully(m_fd, m_spare.get(), len, offset);
        lock.lock();
        m_flight_error = err;
        m_busy = false;
        m_changed.notify_all();
    }
}

// Waits until no write is in flight; its result. A direct write the file system refused (EINVAL) is
// written again through the page cache, and the stream stops writing directly.
int DirectStream::wait_in_flight()
{
    if (!m_writer.joinable())
        return 0;
    int err;
    {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [this] { return !m_busy; });
        err = m_flight_error;
        m_flight_error = 0;
    }
    if (err == EINVAL && m_direct) {
        stop_direct();
        err = pwrite_fully(m_fd, m_spare.get(), m_flight_len, m_flight_offset);
    }
    return err;
}

// m_stage is full (m_chunk bytes at an aligned offset): written directly, with overlap on the writer
// thread (started at the first full buffer), after which the caller fills the other buffer.
int DirectStream::submit_stage()
{
    if (m_overlap && !m_spare) {
        m_spare = make_aligned_buffer(m_chunk);
        if (m_spare) {
            try {
                m_writer = std::thread([this] { write_in_flight(); });
            } catch (...) {  // no thread to be had: write on the caller's thread
                m_spare.reset();
            }
        }
        if (!m_spare)
            m_overlap = false;
    }
    if (!m_overlap)
        return write_stage();
    if (const int err = wait_in_flight(); err != 0)
        return err;
    if (!m_direct)  // the write in flight was refused and went through the page cache instead
        return write_stage();
    std::swap(m_stage, m_spare);
    {
        std::lock_guard lock(m_mutex);
        m_flight_len = m_chunk;
        m_flight_offset = m_offset;
        m_busy = true;
    }
    m_changed.notify_all();
    m_offset += m_chunk;
    m_staged = 0;
    return 0;
}

void DirectStream::stop_direct()
{
    if (m_direct)
        set_direct(m_fd, false);
    m_direct = false;
}

int DirectStream::write_through(const uint8_t* data, size_t len)
{
    const int err = pwrite_fully(m_fd, data, len, m_offset);
    if (err == 0)
        m_offset += len;
    return err;
}

int DirectStream::write(const uint8_t* data, size_t len)
{
    if (!m_direct)
        return write_through(data, len);
    if (!m_stage) {
        m_stage = make_aligned_buffer(m_chunk);
        if (!m_stage) {
            stop_direct();
            return write_through(data, len);
        }
    }
    while (len > 0) {
        const size_t n = std::min(len, m_chunk - m_staged);
        std::memcpy(m_stage.get() + m_staged, data, n);
        m_staged += n;
        data += n;
        len -= n;
        if (m_staged == m_chunk) {
            const int err = submit_stage();
            if (err != 0)
                return err;
            // A full chunk is whole blocks: unless the file system refused it, the stream is still direct.
            if (!m_direct)
                return write_through(data, len);
        }
    }
    return 0;
}

int DirectStream::flush()
{
    int err = wait_in_flight();
    if (err == 0)
        err = write_stage();
    stop_direct();  // the stream's end: whoever uses fd next gets an ordinary descriptor
    return err;
}

// Writes what is staged: the whole blocks directly, a partial block (only at the stream's end) through
// the page cache. A refused direct write (EINVAL) goes through the page cache too, and so does the rest
// of the stream.
int DirectStream::write_stage()
{
    if (m_staged == 0)
        return 0;
    size_t done = 0;
    if (m_direct) {
        const size_t whole = m_staged / k_direct_align * k_direct_align;
        if (whole > 0) {
            const int err = pwrite_fully(m_fd, m_stage.get(), whole, m_offset);
            if (err == 0) {
                m_offset += whole;
                done = whole;
            } else if (err != EINVAL) {  // EINVAL: the file system takes no direct writes (of this alignment)
                return err;
            }
        }
        if (done < m_staged)
            stop_direct();
    }
    int err = 0;
    if (done < m_staged)
        err = write_through(m_stage.get() + done, m_staged - done);
    m_staged = 0;
    return err;
}

}  // namespace walvault
