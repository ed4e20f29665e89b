// Deleting one backup; see backup_delete.h for the order and why.
#include "core/repo/backup_delete.h"

#include "core/repo/backup_manifest.h"
#include "core/repo/layout.h"

#include <vector>

namespace walvault {

Status delete_backup(Storage& storage, const std::string& label, DeleteReport& report)
{
    report = DeleteReport{};
    Status s = check_backup_label(label);
    if (!s.is_ok())
        return s;
    std::vector<ObjectInfo> objects;
    s = storage.list(backup_prefix(label), objects);
    if (!s.is_ok())
        return s;
    if (objects.empty())
        return Status::error(Code::not_found,
            "backup \"" + label + "\" is not in repository \"" + storage.location() + "\"",
            "walvault list shows the backups.");
    DeleteReport found;
    std::vector<std::string> keys;
    for (const ObjectInfo& o : objects) {
        found.objects++;
        found.bytes += o.size;
        if (o.key != backup_manifest_key(label) && o.key != backup_started_key(label))
            keys.push_back(o.key);
    }
    s = storage.remove(backup_manifest_key(label));
    if (s.is_ok())
        s = storage.remove_many(keys);
    if (s.is_ok())
        s = storage.remove(backup_started_key(label));
    if (!s.is_ok())
        return s.prefix("could not delete backup \"" + label +
            "\" (it is no longer restorable; run backup-delete again to remove the rest)");
    report = found;
    return Status::ok();
}

}  // namespace walvault
