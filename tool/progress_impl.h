// run_parallel's template body (included by progress.h).
#pragma once

#include "core/common/status.h"

#include <vector>

namespace walvault {

template <typename Task> Status run_parallel(size_t count, int threads, Task task)
{
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    size_t failed_index = count;
    Status failure;
    auto worker = [&] {
        for (;;) {
            if (failed.load())
                return;
            const size_t i = next.fetch_add(1);
            if (i >= count)
                return;
            Status s = task(i);
            if (!s.is_ok()) {
                std::lock_guard lock(mutex);
                if (i < failed_index) {
                    failed_index = i;
                    failure = s;
                }
                failed.store(true);
            }
        }
    };
    std::vector<std::thread> pool;
    const size_t n = std::min<size_t>(std::max(threads, 1), std::max<size_t>(count, 1));
    for (size_t t = 1; t < n; t++)
        pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool)
        t.join();
    return failure;
}

}  // namespace walvault
