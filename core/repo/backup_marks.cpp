// Pins and leases; see backup_marks.h.
#include "core/repo/backup_marks.h"

#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/layout.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <ctime>
#include <vector>

namespace walvault {
namespace {

constexpr int64_t k_min_renew_seconds = 1;

Status bad_mark(const std::string& what)
{
    return Status::error(Code::corrupt, what + " is not valid JSON of the expected form");
}

std::string host_name()
{
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0)
        return "?";
    return buf;
}

// Keys of the objects under label whose key time the given function reads, oldest first.
Status list_marks(Storage& storage, const std::string& label, std::optional<int64_t> (*time_of)(std::string_view),
    std::vector<std::string>& keys)
{
    keys.clear();
    std::vector<ObjectInfo> objects;
    Status s = storage.list(backup_prefix(label), objects);
    if (!s.is_ok())
        return s;
    for (const ObjectInfo& o : objects)
        if (time_of(o.key))
            keys.push_back(o.key);
    return Status::ok();
}

}  // namespace

std::string pin_to_json(const BackupPin& pin)
{
    nlohmann::json j = {{"pinned_at", format_utc_time(pin.pinned_at)},
        {"until", pin.until == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_utc_time(pin.until))},
        {"reason", pin.reason}, {"wal", pin.standalone ? "standalone" : "lineage"}};
    return j.dump(1) + "\n";
}

Status pin_from_json(const std::string& text, BackupPin& out)
{
    const auto j = nlohmann::json::parse(text, nullptr, false);
    out = BackupPin{};
    if (!j.is_object() || !j.contains("pinned_at") || !j["pinned_at"].is_string() ||
        !parse_utc_time(j["pinned_at"].get<std::string>(), out.pinned_at).is_ok())
        return bad_mark("the pin");
    if (j.contains("until") && j["until"].is_string() &&
        !parse_utc_time(j["until"].get<std::string>(), out.until).is_ok())
        return bad_mark("the pin");
    if (j.contains("reason") && j["reason"].is_string())
        out.reason = j["reason"].get<std::string>();
    out.standalone = j.contains("wal") && j["wal"] == "standalone";
    return Status::ok();
}

std::string lease_to_json(const BackupLease& lease)
{
    nlohmann::json j = {{"heartbeat", format_utc_time(lease.heartbeat)}, {"timeout_seconds", lease.timeout},
        {"host", lease.host}, {"pid", lease.pid}};
    return j.dump(1) + "\n";
}

Status lease_from_json(const std::string& text, BackupLease& out)
{
    const auto j = nlohmann::json::parse(text, nullptr, false);
    const int64_t modified = out.modified;
    out = BackupLease{};
    out.modified = modified;
    if (!j.is_object() || !j.contains("heartbeat") || !j["heartbeat"].is_string() ||
        !parse_utc_time(j["heartbeat"].get<std::string>(), out.heartbeat).is_ok() || !j.contains("timeout_seconds") ||
        !j["timeout_seconds"].is_number_integer())
        return bad_mark("the lease");
    out.timeout = j["timeout_seconds"].get<int64_t>();
    if (j.contains("host") && j["host"].is_string())
        out.host = j["host"].get<std::string>();
    if (j.contains("pid") && j["pid"].is_number_integer())
        out.pid = j["pid"].get<int64_t>();
    return Status::ok();
}

Status write_backup_pin(Storage& storage, const std::string& label, const BackupPin& pin)
{
    std::vector<std::string> old;
    Status s = list_marks(storage, label, backup_pin_time, old);
    if (!s.is_ok())
        return s;
    const std::string key = backup_pin_key(label, pin.pinned_at);
    s = write_small_object(storage, key, pin_to_json(pin));
    if (s.code() == Code::already_exists)
        return Status::error(Code::busy, "backup \"" + label + "\" was pinned again in this second",
            "Run backup-pin again in a second.");
    if (!s.is_ok())
        return s.prefix("could not write \"" + storage.location(key) + "\"");
    old.erase(std::remove(old.begin(), old.end(), key), old.end());
    return storage.remove_many(old);
}

Status remove_backup_pins(Storage& storage, const std::string& label, size_t& removed)
{
    std::vector<std::string> keys;
    Status s = list_marks(storage, label, backup_pin_time, keys);
    removed = 0;
    if (s.is_ok())
        s = storage.remove_many(keys);
    if (s.is_ok())
        removed = keys.size();
    return s;
}

LeaseKeeper::~LeaseKeeper()
{
    finish();
}

Status LeaseKeeper::renew(int64_t now)
{
    BackupLease lease;
    lease.heartbeat = now;
    lease.timeout = m_timeout;
    lease.host = host_name();
    lease.pid = ::getpid();
    const std::string key = backup_lease_key(m_label, now);
    if (key == m_key)
        return Status::ok();  // renewed in this second already
    Status s = write_small_object(*m_storage, key, lease_to_json(lease));
    if (!s.is_ok())
        return s.prefix("could not renew the lease of backup \"" + m_label + "\"");
    if (!m_key.empty()) {
        const Status removed = m_storage->remove(m_key);
        (void)removed;  // a leftover older lease object is harmless: the newest counts
    }
    m_key = key;
    return Status::ok();
}

Status LeaseKeeper::start(Storage& storage, const std::string& label, int64_t timeout_seconds)
{
    m_storage = &storage;
    m_label = label;
    m_timeout = timeout_seconds;
    const int64_t now = std::time(nullptr);
    Status s = renew(now);
    if (!s.is_ok())
        return s;
    m_last_success = now;
    m_thread = std::thread([this] { run(); });
    return Status::ok();
}

void LeaseKeeper::run()
{
    const auto period = std::chrono::seconds(std::max(k_min_renew_seconds, m_timeout / 4));
    std::unique_lock lock(m_mutex);
    while (!m_cv.wait_for(lock, period, [this] { return m_stop; })) {
        lock.unlock();
        const int64_t now = std::time(nullptr);
        const bool ok = renew(now).is_ok();
        lock.lock();
        if (ok && !m_lapsed)
            m_last_success = now;
        if (now - m_last_success > m_timeout)
            m_lapsed = true;
    }
}

Status LeaseKeeper::intact()
{
    std::lock_guard lock(m_mutex);
    if (m_storage == nullptr)
        return Status::ok();
    if (m_lapsed || std::time(nullptr) - m_last_success > m_timeout)
        return Status::error(Code::io_error,
            "the lease of backup \"" + m_label + "\" could not be renewed for more than " + std::to_string(m_timeout) +
                " s",
            "An expire run meanwhile may have taken the backup for abandoned and removed its objects, so it is "
            "not completed. Check that the repository is reachable and writable, and take the backup again.");
    return Status::ok();
}

void LeaseKeeper::finish()
{
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable())
        m_thread.join();
    if (m_storage != nullptr && !m_key.empty()) {
        std::vector<std::string> keys;
        // Left behind only if the store fails now; a lease on a complete backup means nothing, and one on a
        // failed backup is removed with it.
        if (list_marks(*m_storage, m_label, backup_lease_time, keys).is_ok()) {
            const Status removed = m_storage->remove_many(keys);
            (void)removed;
        }
        m_key.clear();
    }
}

}  // namespace walvault
