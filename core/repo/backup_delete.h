// Deleting one backup from a repository: which objects go, in which order. backup-delete calls it; expire
// will too. WAL is never touched.
#pragma once

#include "core/common/status.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <string>

namespace walvault {

// What a deletion removed: every object that was under the backup's label.
struct DeleteReport {
    uint64_t objects = 0;
    uint64_t bytes = 0;
};

// Removes every object of backup `label`: backup.json first, so that a deletion that stops half way leaves
// an incomplete backup (never restored, listed as such) rather than a damaged complete one; then the data
// objects; started.json last, so that list still shows the leftovers until they are all gone. An invalid
// label is Code::invalid; a label with no object is Code::not_found. A failure after the manifest is gone
// says the backup is no longer restorable; running it again removes the rest.
Status delete_backup(Storage& storage, const std::string& label, DeleteReport& report);

}  // namespace walvault
