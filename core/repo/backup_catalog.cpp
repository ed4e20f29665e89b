// One list of backup/ and one GET per complete backup's manifest.
#include "core/repo/backup_catalog.h"

#include "core/repo/layout.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>

namespace walvault {

Status read_small_object(Storage& storage, const std::string& key, std::string& text)
{
    text.clear();
    return storage.get(key, [&](const uint8_t* d, size_t n) {
        text.append(reinterpret_cast<const char*>(d), n);
        return Status::ok();
    });
}

Status list_backup_labels(Storage& storage, std::vector<std::string>& out)
{
    out.clear();
    std::string after;
    std::vector<ObjectInfo> page;
    for (;;) {
        Status s = storage.list(k_backup_prefix, ListRange{after, 1}, page);
        if (!s.is_ok() || page.empty())
            return s;
        const auto label = label_of_backup_key(page.front().key);
        if (!label) {
            after = page.front().key;  // a stray key directly under backup/: step over it
            continue;
        }
        out.push_back(*label);
        // Every key of the label lies between "backup/<label>/" and "backup/<label>0" ('0' follows '/'), and
        // every key after them at or above the latter.
        after = std::string(k_backup_prefix) + *label + "0";
    }
}

Status read_backup_catalog(Storage& storage, std::vector<BackupRecord>& out)
{
    out.clear();
    std::vector<ObjectInfo> objects;
    Status s = storage.list(k_backup_prefix, objects);
    if (!s.is_ok())
        return s;
    std::map<std::string, BackupRecord> by_label;
    std::map<std::string, bool> has_manifest, has_started;
    std::map<std::string, const ObjectInfo*> newest_pin, newest_lease;  // keys sort by their time
    for (const ObjectInfo& o : objects) {
        const auto label = label_of_backup_key(o.key);
        if (!label)
            continue;
        BackupRecord& r = by_label[*label];
        r.label = *label;
        r.stored_bytes += o.size;
        r.objects++;
        if (o.key == backup_manifest_key(*label))
            has_manifest[*label] = true;
        if (o.key == backup_started_key(*label)) {
            has_started[*label] = true;
            r.started_modified = o.modified;
        }
        if (backup_pin_time(o.key))
            newest_pin[*label] = &o;
        if (backup_lease_time(o.key))
            newest_lease[*label] = &o;
    }
    for (auto& [label, r] : by_label) {
        if (auto it = newest_pin.find(label); it != newest_pin.end()) {
            std::string text;
            BackupPin pin;
            s = read_small_object(storage, it->second->key, text);
            if (s.is_ok())
                s = pin_from_json(text, pin);
            if (s.code() == Code::not_found) {
                // Replaced or removed since the listing: taken as pinned, the safe side for expire.
                pin = BackupPin{};
                pin.pinned_at = *backup_pin_time(it->second->key);
                pin.reason = "(the pin changed while it was read)";
            } else if (!s.is_ok()) {
                return s.prefix("backup \"" + label + "\" (" + storage.location(it->second->key) + ")");
            }
            r.pin = pin;
        }
        if (auto it = newest_lease.find(label); it != newest_lease.end() && !has_manifest[label]) {
            std::string text;
            BackupLease lease;
            lease.modified = it->second->modified;
            s = read_small_object(storage, it->second->key, text);
            if (s.is_ok())
                s = lease_from_json(text, lease);
            if (s.code() == Code::not_found) {
                // Renewed (or finished) since the listing: the writer was alive a moment ago.
                lease.heartbeat = *backup_lease_time(it->second->key);
                lease.timeout = INT64_MAX / 2;
            } else if (!s.is_ok()) {
                return s.prefix("backup \"" + label + "\" (" + storage.location(it->second->key) + ")");
            }
            r.lease = lease;
        }
        if (has_started[label]) {
            std::string text;
            if (read_small_object(storage, backup_started_key(label), text).is_ok()) {
                const auto j = nlohmann::json::parse(text, nullptr, false);
                if (j.is_object() && j.contains("started") && j["started"].is_string())
                    r.started = j["started"].get<std::string>();
            }
        }
        if (!has_manifest[label]) {
            out.push_back(std::move(r));
            continue;
        }
        std::string text;
        s = read_small_object(storage, backup_manifest_key(label), text);
        if (s.is_ok())
            s = manifest_from_json(text, r.manifest);
        if (!s.is_ok())
            return s.prefix("backup \"" + label + "\" (" + storage.location(backup_manifest_key(label)) + ")");
        r.complete = true;
        out.push_back(std::move(r));
    }
    std::stable_sort(out.begin(), out.end(), [](const BackupRecord& a, const BackupRecord& b) {
        const std::string& ta = a.complete ? a.manifest.start_time : a.started;
        const std::string& tb = b.complete ? b.manifest.start_time : b.started;
        return ta != tb ? ta < tb : a.label < b.label;
    });
    return Status::ok();
}

}  // namespace walvault
