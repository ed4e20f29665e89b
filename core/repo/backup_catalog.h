// The backups a repository holds, read for list, restore and backup-delete (and any verb that needs them):
// complete ones with their manifests, incomplete ones (objects without a manifest) by label only.
#pragma once

#include "core/repo/backup_manifest.h"
#include "core/storage/storage.h"

#include <string>
#include <vector>

namespace walvault {

struct BackupRecord {
    std::string label;
    bool complete = false;      // backup.json exists and parses
    BackupManifest manifest;    // complete only
    std::string started;        // from started.json, "" if absent
    uint64_t stored_bytes = 0;  // of every object under the label
    uint64_t objects = 0;
};

// Every backup, oldest first (by start time, then label). A manifest that does not parse is an error
// naming it.
Status read_backup_catalog(Storage& storage, std::vector<BackupRecord>& out);

// Every backup label, in key order, without listing the backups' objects: one list call of one key per
// label (for `walvault check`, which reads only the manifests).
Status list_backup_labels(Storage& storage, std::vector<std::string>& out);

// Reads one object whole into text.
Status read_small_object(Storage& storage, const std::string& key, std::string& text);

}  // namespace walvault
