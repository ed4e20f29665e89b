// Setting validation, shared so the module's GUC check hooks and the tool say the same thing.
#include "core/config/settings.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace walvault {

bool check_repo_setting(std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (value.empty())
        return true;
    if (value.front() != '/') {
        message = "walvault.repo must be an absolute directory path";
        hint = "Use a path such as \"/var/lib/walvault/main\".";
        return false;
    }
    if (!check_access)
        return true;
    // The repository directory is created on first use: check the nearest part of the path that exists.
    std::string path(value);
    for (;;) {
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                message = "\"" + path + "\" is not a directory";
                hint = "Point walvault.repo at a directory, or at a path that can be created.";
                return false;
            }
            if (::access(path.c_str(), W_OK | X_OK) != 0) {
                message = "directory \"" + path + "\" is not writable: " + errno_text(errno);
                hint = "Give the operating-system user that runs the server write access to it.";
                return false;
            }
            return true;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            message = "could not access \"" + path + "\": " + errno_text(errno);
            hint = "Give the operating-system user that runs the server access to it.";
            return false;
        }
        const size_t slash = path.rfind('/');
        path = slash == 0 ? "/" : path.substr(0, slash);
    }
}

bool check_compression_setting(std::string_view value, std::string& message, std::string& hint)
{
    std::string error;
    if (Compression::parse(value, &error))
        return true;
    message = error;
    hint = "Use \"none\", \"zstd\" or \"zstd:LEVEL\" with LEVEL from 1 to 19.";
    return false;
}

}  // namespace walvault
