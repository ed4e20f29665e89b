// What is known about a backup besides its manifest: a pin (keep it, and the WAL it needs, whatever the
// retention policy says) and a lease (its writer is alive). Both are small JSON objects under the backup's
// label (core/repo/layout.h), written create-only with the time in the key, so that replacing one is
// "write the new, then remove the old" and there is never a moment without one.
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace walvault {

struct BackupPin {
    int64_t pinned_at = 0;  // unix seconds: when it was pinned (the key's time)
    int64_t until = 0;      // unix seconds; 0: until unpinned
    std::string reason;     // free text from the operator, "" if none
    // Keep only the WAL from the backup's start to its stop (a standalone copy), not the WAL after it.
    bool standalone = false;

    bool active(int64_t now) const { return until == 0 || now < until; }
};

struct BackupLease {
    int64_t heartbeat = 0;  // unix seconds, the writer's clock (the key's time)
    int64_t modified = 0;   // the store's time of the lease object (ObjectInfo::modified; 0 if unknown)
    int64_t timeout = 0;    // seconds: the writer is gone once its newest heartbeat is older than this
    std::string host;       // the writer's host name and process id, for messages
    int64_t pid = 0;

    // The newest of the two clocks: a writer whose clock is behind is not taken for dead early.
    int64_t last_seen() const { return heartbeat > modified ? heartbeat : modified; }
    bool alive(int64_t now) const { return now - last_seen() <= timeout; }
};

std::string pin_to_json(const BackupPin& pin);
Status pin_from_json(const std::string& text, BackupPin& out);
std::string lease_to_json(const BackupLease& lease);
Status lease_from_json(const std::string& text, BackupLease& out);

// Pins backup `label` (which must have objects): writes pin.<now>.json, then removes older pin objects.
Status write_backup_pin(Storage& storage, const std::string& label, const BackupPin& pin);
// Removes every pin object of `label`; removed is how many there were.
Status remove_backup_pins(Storage& storage, const std::string& label, size_t& removed);

// Keeps a backup's lease alive while it is written: start() writes the first lease object, then a thread
// writes a new one every timeout/4 (at least every second) and removes the one before. finish() stops the
// thread and removes the lease objects. intact() tells whether the lease never lapsed: if no heartbeat
// succeeded for longer than the timeout, an expire may have taken the backup for dead and removed its
// objects, and the backup must not be completed.
class LeaseKeeper {
public:
    LeaseKeeper() = default;
    LeaseKeeper(const LeaseKeeper&) = delete;
    LeaseKeeper& operator=(const LeaseKeeper&) = delete;
    ~LeaseKeeper();

    Status start(Storage& storage, const std::string& label, int64_t timeout_seconds);
    Status intact();
    void finish();

private:
    void run();
    Status renew(int64_t now);

    Storage* m_storage = nullptr;
    std::string m_label;
    int64_t m_timeout = 0;
    std::string m_key;  // the newest lease object
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stop = false;
    int64_t m_last_success = 0;  // unix seconds of the newest heartbeat that was written
    bool m_lapsed = false;
    std::thread m_thread;
};

}  // namespace walvault
