// The table of backends keyed by how a repository location starts (open_storage and the walvault.repo
// check both read it); the default batch removal.
#include "core/storage/storage.h"

#include "core/storage/posix/posix_storage.h"
#include "core/storage/s3/s3_settings.h"
#include "core/storage/s3/s3_storage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace walvault {

Status Storage::replace(const std::string& key, std::unique_ptr<Writer>& out)
{
    out.reset();
    return Status::error(Code::invalid, "repository \"" + location() + "\" cannot replace \"" + key + "\"");
}

namespace {

Status put_small_object(std::unique_ptr<Writer>& writer, Status opened, const std::string& text)
{
    Status s = std::move(opened);
    if (s.is_ok())
        s = writer->write(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok() && writer)
        writer->abort();
    return s;
}

}  // namespace

Status write_small_object(Storage& storage, const std::string& key, const std::string& text)
{
    std::unique_ptr<Writer> writer;
    Status s = storage.create(key, writer);
    return put_small_object(writer, std::move(s), text);
}

Status replace_small_object(Storage& storage, const std::string& key, const std::string& text)
{
    std::unique_ptr<Writer> writer;
    Status s = storage.replace(key, writer);
    return put_small_object(writer, std::move(s), text);
}

Status Storage::remove_many(const std::vector<std::string>& keys)
{
    for (const std::string& key : keys) {
        Status s = remove(key);
        if (!s.is_ok())
            return s;
    }
    return Status::ok();
}

namespace {

// An absolute path is all the form there is. The repository directory is created on first use, so with
// check_access the nearest part of the path that exists must be a writable directory.
bool check_posix_location(std::string_view value, bool check_access, std::string& message, std::string& hint)
{
    if (!check_access)
        return true;
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

Status open_posix_storage(const std::string& repo, const StorageOptions&, std::unique_ptr<Storage>& out)
{
    out = std::make_unique<PosixStorage>(repo);
    return Status::ok();
}

// s3://BUCKET[/PREFIX]: a bucket is needed. Reachability and credentials are checked by archiving, which
// reports the cause.
bool check_s3_location(std::string_view value, bool, std::string& message, std::string& hint)
{
    constexpr size_t k_scheme_len = std::string_view("s3://").size();
    const size_t slash = value.find('/', k_scheme_len);
    const std::string_view bucket =
        value.substr(k_scheme_len, slash == std::string_view::npos ? std::string_view::npos : slash - k_scheme_len);
    if (bucket.empty()) {
        message = "walvault.repo \"" + std::string(value) + "\" names no bucket";
        hint = "Use s3://BUCKET/PREFIX, for example \"s3://backups/prod/main\".";
        return false;
    }
    return true;
}

std::span<const SettingDef> no_settings()
{
    return {};
}

constexpr StorageScheme k_storage_schemes[] = {
    {"posix", "/", "an absolute directory path", "a path", "/var/lib/walvault/main", check_posix_location,
        open_posix_storage, no_settings},
    {"s3", "s3://", "s3://BUCKET/PREFIX", "a location", "s3://backups/prod/main", check_s3_location, open_s3_storage,
        s3_settings},
};

// "A", "A or B", "A, B or C".
template <typename Part> std::string join_or(Part part)
{
    const std::span<const StorageScheme> rows = storage_schemes();
    std::string out;
    for (size_t i = 0; i < rows.size(); ++i)
        out += (i == 0 ? "" : i + 1 == rows.size() ? " or " : ", ") + part(rows[i]);
    return out;
}

}  // namespace

std::span<const StorageScheme> storage_schemes()
{
    return k_storage_schemes;
}

const StorageScheme* find_storage_scheme(std::string_view repo)
{
    for (const StorageScheme& row : k_storage_schemes)
        if (repo.starts_with(row.prefix))
            return &row;
    return nullptr;
}

std::string storage_scheme_forms()
{
    return join_or([](const StorageScheme& row) { return std::string(row.form); });
}

std::string storage_scheme_examples()
{
    return join_or(
        [](const StorageScheme& row) { return std::string(row.example_noun) + " such as \"" + row.example + "\""; });
}

Status open_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out)
{
    if (repo.empty())
        return Status::error(Code::invalid, "walvault.repo is not set",
            "Set walvault.repo to the repository location, for example \"/var/lib/walvault/main\".");
    if (const StorageScheme* scheme = find_storage_scheme(repo))
        return scheme->open(repo, options, out);
    return Status::error(Code::invalid, "unsupported repository location \"" + repo + "\"",
        "walvault.repo must be " + storage_scheme_forms() + ".");
}

Status open_storage(const std::string& repo, std::unique_ptr<Storage>& out)
{
    return open_storage(repo, StorageOptions{}, out);
}

}  // namespace walvault
