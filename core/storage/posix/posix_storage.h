// The posix backend: a local or NFS directory, the embedded default. Writes go to a locked temporary
// file (with O_DIRECT where the file system takes it) that is fsynced, read back and checked, then linked
// into place (never replacing) and the directory fsynced.
#pragma once

#include "core/common/direct_io.h"
#include "core/storage/storage.h"

namespace walvault {

constexpr unsigned k_posix_dir_mode = 0750;        // new repository directories
constexpr unsigned k_posix_file_mode = 0640;       // objects
constexpr size_t k_posix_io_chunk = 256UL * 1024;  // bytes per read() when streaming
// Direct I/O of objects being written: the staging buffer (one per writer, also used for the read-back),
// a multiple of k_direct_align (core/common/direct_io.h).
constexpr size_t k_posix_direct_chunk = 512UL * 1024;

// Temporary files are ".<name>.tmp" beside the final object: hidden from list(), reused (under flock)
// by the next writer of the same key, so a crash leaves nothing that is ever read as data.
constexpr const char* k_posix_temp_suffix = ".tmp";

class PosixStorage final : public Storage {
public:
    // root must be an absolute path; it is created on the first write. direct_io: write objects with
    // O_DIRECT where the file system accepts it (false: always through the page cache).
    explicit PosixStorage(std::string root, bool direct_io = true);

    std::string location() const override { return m_root; }
    std::string location(const std::string& key) const override;
    // "file://" and the real path of the root (symbolic links resolved; a root not created yet is named
    // by the real path of its deepest existing ancestor and the rest as given).
    std::string identity() const override;
    Status head(const std::string& key, ObjectInfo& out) override;
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override;
    Status replace(const std::string& key, std::unique_ptr<Writer>& out) override;
    Status get(const std::string& key, const ByteSink& sink) override;
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override;
    using Storage::list;
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override;
    Status remove(const std::string& key) override;
    // Unlinks every file, then fsyncs each directory once (not once per file), and removes the directories
    // that became empty (below the repository's top-level ones).
    Status remove_many(const std::vector<std::string>& keys) override;
    Status sync(const std::string& key) override;

private:
    Status open_writer(const std::string& key, bool replace, std::unique_ptr<Writer>& out);

    std::string m_root;
    bool m_direct_io;
};

// mkdir -p with k_posix_dir_mode, fsyncing each parent whose entry it created.
Status make_directories(const std::string& path);

}  // namespace walvault
