// Chooses the backend for a repository location; the default batch removal.
#include "core/storage/storage.h"

#include "core/storage/posix/posix_storage.h"
#include "core/storage/s3/s3_storage.h"

namespace walvault {

Status Storage::remove_many(const std::vector<std::string>& keys)
{
    for (const std::string& key : keys) {
        Status s = remove(key);
        if (!s.is_ok())
            return s;
    }
    return Status::ok();
}

Status open_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out)
{
    if (repo.empty())
        return Status::error(Code::invalid, "walvault.repo is not set",
            "Set walvault.repo to the repository location, for example \"/var/lib/walvault/main\".");
    if (repo.front() == '/') {
        out = std::make_unique<PosixStorage>(repo);
        return Status::ok();
    }
    if (repo.rfind("s3://", 0) == 0)
        return open_s3_storage(repo, options, out);
    return Status::error(Code::invalid, "unsupported repository location \"" + repo + "\"",
        "walvault.repo must be an absolute directory path or s3://BUCKET/PREFIX.");
}

Status open_storage(const std::string& repo, std::unique_ptr<Storage>& out)
{
    return open_storage(repo, StorageOptions{}, out);
}

}  // namespace walvault
