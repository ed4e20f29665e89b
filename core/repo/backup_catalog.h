// The backups a repository holds, read for list, restore and backup-delete (and any verb that needs them):
// complete ones with their manifests, incomplete ones (objects without a manifest) by label only.
#pragma once

#include "core/repo/backup_manifest.h"
#include "core/repo/backup_marks.h"
#include "core/storage/storage.h"

#include <optional>
#include <string>
#include <vector>

namespace walvault {

struct BackupRecord {
    std::string label;
    bool complete = false;         // backup.json exists and parses
    BackupManifest manifest;       // complete only
    std::string started;           // from started.json, "" if absent
    int64_t started_modified = 0;  // the store's time of started.json (0 if absent or unknown)
    uint64_t stored_bytes = 0;     // of every object under the label
    uint64_t objects = 0;
    std::optional<BackupPin> pin;  // the newest pin object, whether or not its time has passed
    // The newest lease object: read for incomplete backups only (a complete one has no writer left).
    std::optional<BackupLease> lease;
};

// Every backup, oldest first (by start time, then label). A manifest, pin or lease that does not parse is an
// error naming it.
Status read_backup_catalog(Storage& storage, std::vector<BackupRecord>& out);

// Every backup label, in key order, without listing the backups' objects: one list call of one key per
// label (for `walvault check`, which reads only the manifests). On a store that does not list in byte order
// (s3rver: see Storage::list) a label that extends another with a byte below '/' ("b1" and "b1.x") can be
// missed; AWS S3 and directories list in byte order.
Status list_backup_labels(Storage& storage, std::vector<std::string>& out);

// Reads one object whole into text.
Status read_small_object(Storage& storage, const std::string& key, std::string& text);

}  // namespace walvault
