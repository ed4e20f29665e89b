// Chooses the backend for a repository location.
#include "core/storage/storage.h"

#include "core/storage/posix/posix_storage.h"

namespace walvault {

Status open_storage(const std::string& repo, std::unique_ptr<Storage>& out)
{
    if (repo.empty())
        return Status::error(Code::invalid, "walvault.repo is not set",
            "Set walvault.repo to the repository location, for example \"/var/lib/walvault/main\".");
    if (repo.front() == '/') {
        out = std::make_unique<PosixStorage>(repo);
        return Status::ok();
    }
    return Status::error(Code::invalid, "unsupported repository location \"" + repo + "\"",
        "walvault.repo must be an absolute directory path.");
}

}  // namespace walvault
