// Progress display. The line goes to stderr so that stdout stays the command's result.
#include "tool/progress.h"

#include <unistd.h>

#include <cstdio>

namespace walvault {

Progress::Progress(uint64_t total, std::string verb)
    : m_total(total)
    , m_verb(std::move(verb))
    , m_start(std::chrono::steady_clock::now())
    , m_tty(::isatty(2) == 1)
{
    if (m_tty)
        m_thread = std::thread([this] { run(); });
}

Progress::~Progress()
{
    stop();
}

double Progress::elapsed_seconds() const
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

void Progress::stop()
{
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping)
            return;
        m_stopping = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) {
        m_thread.join();
        std::fputs("\r\033[K", stderr);
    }
}

void Progress::run()
{
    std::unique_lock lock(m_mutex);
    while (!m_cv.wait_for(lock, std::chrono::seconds(1), [this] { return m_stopping; })) {
        const uint64_t done = this->done();
        const double secs = elapsed_seconds();
        const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
        std::string eta = "-";
        if (rate > 0 && m_total > done) {
            const auto left = static_cast<uint64_t>(static_cast<double>(m_total - done) / rate);
            char buf[32];
            std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(left / 60),
                static_cast<unsigned long long>(left % 60));
            eta = buf;
        }
        const int pct = m_total > 0 ? static_cast<int>(std::min<uint64_t>(100, done * 100 / m_total)) : 100;
        std::fprintf(stderr, "\r\033[K%s %s of %s (%d%%), %s/s, ETA %s", m_verb.c_str(), format_bytes(done).c_str(),
            format_bytes(m_total).c_str(), pct, format_bytes(static_cast<uint64_t>(rate)).c_str(), eta.c_str());
        std::fflush(stderr);
    }
}

}  // namespace walvault
