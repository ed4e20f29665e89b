// Progress of a long transfer (backup, restore): on a terminal, one line redrawn every second with bytes
// done, rate and ETA; otherwise nothing until the caller prints its summary line.
#pragma once

#include "core/common/status.h"
#include "core/common/text.h"  // format_bytes

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace walvault {

class Progress {
public:
    // total: bytes expected (an estimate for a live data directory); verb: "backed up", "restored".
    Progress(uint64_t total, std::string verb);
    ~Progress();  // stops the display
    void add(uint64_t bytes) { m_done.fetch_add(bytes, std::memory_order_relaxed); }
    uint64_t done() const { return m_done.load(std::memory_order_relaxed); }
    double elapsed_seconds() const;
    void stop();

private:
    void run();

    uint64_t m_total;
    std::string m_verb;
    std::atomic<uint64_t> m_done{0};
    std::chrono::steady_clock::time_point m_start;
    bool m_tty;
    bool m_stopping = false;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::thread m_thread;
};

// Runs task(i) for i in [0, count) on `threads` threads; stops handing out work after the first failure
// and returns that failure (the lowest index among those that failed).
template <typename Task> Status run_parallel(size_t count, int threads, Task task);

}  // namespace walvault

#include "tool/progress_impl.h"
