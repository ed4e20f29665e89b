// The data directory walk of `walvault backup` and the system identifier check (see data_dir.h). The rules
// mirror PostgreSQL 15: sendDir() and sendTablespace() in basebackup.c, forkname_chars() in relpath.c,
// parse_filename_for_nontemp_relation() in reinit.c and looks_like_temp_rel_name() in fd.c.
#include "core/pgdata/data_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <set>
#include <string_view>
#include <utility>

namespace walvault {
namespace {

constexpr const char* k_control_file = "global/pg_control";  // XLOG_CONTROL_FILE
// ControlFileData starts with system_identifier (uint64), pg_control_version (uint32) and
// catalog_version_no (uint32) in every release (pg_control.h).
constexpr size_t k_system_identifier_bytes = 8;
constexpr size_t k_catalog_version_offset = 12;
constexpr size_t k_catalog_version_end = 16;

constexpr std::string_view k_temp_file_prefix = "pgsql_tmp";  // PG_TEMP_FILE_PREFIX (fd.h)
constexpr size_t k_oid_chars = 10;                            // OIDCHARS (relpath.h)
constexpr uint32_t k_dir_create_mode = 0700;                  // PG_DIR_MODE_OWNER (file_perm.h)
constexpr uint32_t k_permission_bits = 07777;

struct ExcludedFile {
    std::string_view name;
    bool match_prefix;
};

// excludeFiles in PostgreSQL 15's basebackup.c, matched against the name in every directory.
constexpr ExcludedFile k_excluded_files[] = {
    {"postgresql.auto.conf.tmp", false},  // PG_AUTOCONF_FILENAME ".tmp"
    {"current_logfiles.tmp", false},      // LOG_METAINFO_DATAFILE_TMP
    {"pg_internal.init", true},           // RELCACHE_INIT_FILENAME, and its temporary files
    {"backup_label", false},
    {"tablespace_map", false},
    {"backup_manifest", false},
    {"postmaster.pid", false},
    {"postmaster.opts", false},
};

// excludeDirContents in PostgreSQL 15's basebackup.c: the directory is kept, empty, wherever it is.
constexpr std::string_view k_excluded_dir_contents[] = {
    "pg_stat_tmp",  // PG_STAT_TMP_DIR
    "pg_replslot",
    "pg_dynshmem",  // PG_DYNSHMEM_DIR
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
};

enum class Fork { main, fsm, vm, init };

// forkNames[1..] in relpath.c; the main fork has no suffix.
constexpr std::pair<std::string_view, Fork> k_fork_suffixes[] = {
    {"fsm", Fork::fsm},
    {"vm", Fork::vm},
    {"init", Fork::init},
};

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

size_t digits_from(std::string_view s, size_t pos)
{
    size_t n = 0;
    while (pos + n < s.size() && is_digit(s[pos + n]))
        ++n;
    return n;
}

bool all_digits(std::string_view s)
{
    return !s.empty() && digits_from(s, 0) == s.size();
}

bool starts_with(std::string_view s, std::string_view prefix)
{
    return s.substr(0, prefix.size()) == prefix;
}

// forkname_chars(): the length of the fork name s starts with, 0 if none.
size_t fork_name_chars(std::string_view s, Fork& fork)
{
    for (const auto& [name, f] : k_fork_suffixes) {
        if (starts_with(s, name)) {
            fork = f;
            return name.size();
        }
    }
    return 0;
}

// The optional "_<fork>" and ".<segment>" after a relation number at pos, up to the end of the name.
bool parse_fork_and_segment(std::string_view name, size_t pos, Fork& fork)
{
    fork = Fork::main;
    if (pos < name.size() && name[pos] == '_') {
        const size_t n = fork_name_chars(name.substr(pos + 1), fork);
        if (n == 0)
            return false;
        pos += n + 1;
    }
    if (pos < name.size() && name[pos] == '.') {
        const size_t n = digits_from(name, pos + 1);
        if (n == 0)
            return false;
        pos += n + 1;
    }
    return pos == name.size();
}

// parse_filename_for_nontemp_relation(): "<relfilenode>[_<fork>][.<segment>]".
bool parse_relation_file_name(std::string_view name, size_t& oid_chars, Fork& fork)
{
    oid_chars = digits_from(name, 0);
    if (oid_chars == 0 || oid_chars > k_oid_chars)
        return false;
    return parse_fork_and_segment(name, oid_chars, fork);
}

// looks_like_temp_rel_name(): "t<backend>_<relfilenode>[_<fork>][.<segment>]".
bool looks_like_temp_relation(std::string_view name)
{
    if (name.empty() || name[0] != 't')
        return false;
    const size_t backend = digits_from(name, 1);
    if (backend == 0 || 1 + backend >= name.size() || name[1 + backend] != '_')
        return false;
    const size_t start = 2 + backend;
    const size_t relation = digits_from(name, start);
    if (relation == 0)
        return false;
    Fork fork;
    return parse_fork_and_segment(name, start + relation, fork);
}

bool is_excluded_file(std::string_view name)
{
    return std::any_of(std::begin(k_excluded_files), std::end(k_excluded_files),
        [&](const ExcludedFile& e) { return e.match_prefix ? starts_with(name, e.name) : name == e.name; });
}

bool is_excluded_dir_contents(std::string_view name)
{
    return std::find(std::begin(k_excluded_dir_contents), std::end(k_excluded_dir_contents), name) !=
        std::end(k_excluded_dir_contents);
}

Status os_error(const std::string& what, const std::string& path, int err)
{
    return Status::error(err == ENOENT ? Code::not_found : Code::io_error,
        "could not " + what + " \"" + path + "\": " + errno_text(err));
}

// Reads the first len bytes of <pgdata>/global/pg_control.
Status read_control_prefix(const std::string& pgdata, uint8_t* buf, size_t len)
{
    const std::string path = pgdata + "/" + k_control_file;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        Status s = os_error("open file", path, err);
        if (err == ENOENT)
            s = Status::error(
                s.code(), s.message(), "Check that \"" + pgdata + "\" is the data directory of a PostgreSQL cluster.");
        return s;
    }
    size_t done = 0;
    while (done < len) {
        const ssize_t n = ::read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return os_error("read file", path, err);
        }
        if (n == 0)
            break;
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    if (done < len)
        return Status::error(Code::corrupt,
            "could not read file \"" + path + "\": read " + std::to_string(done) + " of " + std::to_string(len) +
                " bytes",
            "The file is not a PostgreSQL control file, or it was truncated.");
    return Status::ok();
}

// One walk: the entries found so far, the tablespace links read before the walk, and the directories on
// the current path (a directory reached through a symbolic link may be one of them).
class Walker {
public:
    Walker(const std::string& pgdata, int pg_major, std::vector<DataDirEntry>& entries)
        : m_root(pgdata)
        , m_pg_major(pg_major)
        , m_entries(entries)
    {
    }

    Status run(std::vector<TablespaceLink>& tablespaces)
    {
        struct stat st { };
        if (::stat(m_root.c_str(), &st) != 0)
            return os_error("open data directory", m_root, errno);
        if (!S_ISDIR(st.st_mode))
            return Status::error(Code::invalid, "data directory \"" + m_root + "\" is not a directory");
        Status s = read_tablespace_links();
        if (!s.is_ok())
            return s;
        s = walk_tree(m_root, "", st);
        if (!s.is_ok())
            return s;
        for (const Tablespace& t : m_tablespaces) {
            s = walk_tablespace(t.link);
            if (!s.is_ok())
                return s;
            tablespaces.push_back(t.link);
        }
        return Status::ok();
    }

private:
    struct Tablespace {
        TablespaceLink link;
        bool known = false;  // the location's identity, to skip it when it lies inside the data directory
        dev_t dev = 0;
        ino_t ino = 0;
    };

    void add(DataDirEntry::Type type, const std::string& rel, const struct stat& st)
    {
        DataDirEntry e;
        e.type = type;
        e.path = rel;
        e.size = type == DataDirEntry::Type::file ? static_cast<uint64_t>(st.st_size) : 0;
        e.mtime = static_cast<int64_t>(st.st_mtime);
        e.mode = static_cast<uint32_t>(st.st_mode) & k_permission_bits;
        m_entries.push_back(std::move(e));
    }

    // Every name in the directory but "." and "..", sorted. A directory that is gone (ENOENT) is empty
    // when vanish_ok.
    static Status list_directory(const std::string& path, bool vanish_ok, std::vector<std::string>& names)
    {
        DIR* dir = ::opendir(path.c_str());
        if (dir == nullptr) {
            const int err = errno;
            if (err == ENOENT && vanish_ok)
                return Status::ok();
            return os_error("open directory", path, err);
        }
        for (;;) {
            errno = 0;
            const struct dirent* de = ::readdir(dir);
            if (de == nullptr) {
                const int err = errno;
                ::closedir(dir);
                if (err != 0)
                    return os_error("read directory", path, err);
                break;
            }
            const std::string_view name = de->d_name;
            if (name != "." && name != "..")
                names.emplace_back(name);
        }
        std::sort(names.begin(), names.end());
        return Status::ok();
    }

    // "PG_<major>_<catalog version>" (TABLESPACE_VERSION_DIRECTORY), the catalog version read from
    // pg_control once: a tablespace may also hold the directory of another major version or of an older
    // catalog version of this one (a beta upgraded with pg_upgrade).
    Status version_directory(std::string& out)
    {
        if (m_version_dir.empty()) {
            uint8_t buf[k_catalog_version_end];
            Status s = read_control_prefix(m_root, buf, sizeof(buf));
            if (!s.is_ok())
                return s.prefix("could not read the catalog version for the tablespace directories");
            uint32_t catalog_version = 0;
            std::memcpy(&catalog_version, buf + k_catalog_version_offset, sizeof(catalog_version));
            m_version_dir = "PG_" + std::to_string(m_pg_major) + "_" + std::to_string(catalog_version);
        }
        out = m_version_dir;
        return Status::ok();
    }

    // "base/<oid>" or "pg_tblspc/<oid>/<version directory>/<oid>": where relation files live (isDbDir).
    Status is_database_directory(const std::string& rel_dir, bool& out)
    {
        out = false;
        const size_t last = rel_dir.rfind('/');
        if (last == std::string::npos || !all_digits(std::string_view(rel_dir).substr(last + 1)))
            return Status::ok();
        const std::string parent = rel_dir.substr(0, last);
        if (parent == "base") {
            out = true;
            return Status::ok();
        }
        // pg_tblspc/<oid>/<name>: an in-place tablespace (allow_in_place_tablespaces) or a linked one.
        const std::string tblspc = "pg_tblspc/";
        const size_t slash = parent.find('/', tblspc.size());
        if (!starts_with(parent, tblspc) || slash == std::string::npos ||
            !all_digits(std::string_view(parent).substr(tblspc.size(), slash - tblspc.size())))
            return Status::ok();
        const std::string name = parent.substr(slash + 1);
        if (name.find('/') != std::string::npos)
            return Status::ok();
        std::string version_dir;
        Status s = version_directory(version_dir);
        if (!s.is_ok())
            return s;
        out = name == version_dir;
        return Status::ok();
    }

    // The pg_tblspc/<oid> symbolic links, read first as do_pg_backup_start() does, so that a tablespace
    // located inside the data directory is copied once, under pg_tblspc. Other names and real directories
    // (in-place tablespaces) are left to the ordinary walk.
    Status read_tablespace_links()
    {
        const std::string dir = m_root + "/pg_tblspc";
        std::vector<std::string> names;
        Status s = list_directory(dir, true, names);
        if (!s.is_ok())
            return s;
        const std::string prefix = dir + "/";
        for (const std::string& name : names) {
            if (!all_digits(name) || name.size() > k_oid_chars || std::stoull(name) > UINT32_MAX)
                continue;
            const std::string path = prefix + name;
            struct stat st { };
            if (::lstat(path.c_str(), &st) != 0) {
                if (errno == ENOENT)
                    continue;  // dropped meanwhile
                return os_error("stat file", path, errno);
            }
            if (!S_ISLNK(st.st_mode))
                continue;
            Tablespace t;
            bool gone = false;
            s = read_link(path, t.link.location, gone);
            if (!s.is_ok())
                return s;
            if (gone)
                continue;
            t.link.oid = static_cast<uint32_t>(std::stoul(name));
            struct stat location { };
            if (::stat(path.c_str(), &location) == 0) {
                t.dev = location.st_dev;
                t.ino = location.st_ino;
                t.known = true;
            }
            m_tablespaces.push_back(std::move(t));
        }
        return Status::ok();
    }

    static Status read_link(const std::string& path, std::string& target, bool& gone)
    {
        std::string buf(256, '\0');
        for (;;) {
            const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == ENOENT) {
                    gone = true;
                    return Status::ok();
                }
                return os_error("read symbolic link", path, errno);
            }
            if (static_cast<size_t>(n) < buf.size()) {
                target.assign(buf.data(), static_cast<size_t>(n));
                return Status::ok();
            }
            buf.resize(buf.size() * 2);
        }
    }

    // sendTablespace(): only this version's directory of the location, under pg_tblspc/<oid>/.
    Status walk_tablespace(const TablespaceLink& link)
    {
        std::string version_dir;
        Status s = version_directory(version_dir);
        if (!s.is_ok())
            return s;
        const std::string rel = "pg_tblspc/" + std::to_string(link.oid) + "/" + version_dir;
        const std::string path = m_root + "/" + rel;
        struct stat st { };
        if (::stat(path.c_str(), &st) != 0) {
            if (errno == ENOENT)
                return Status::ok();  // dropped meanwhile, or not yet used by this server
            return os_error("stat directory", path, errno);
        }
        if (!S_ISDIR(st.st_mode))
            return Status::error(Code::io_error, "tablespace directory \"" + path + "\" is not a directory");
        add(DataDirEntry::Type::directory, rel, st);
        return walk_tree(path, rel, st);
    }

    // The contents of the directory at path (rel_dir relative to the data directory, st its stat).
    Status walk_tree(const std::string& path, const std::string& rel_dir, const struct stat& st)
    {
        for (const auto& [dev, ino] : m_open_dirs) {
            if (dev == st.st_dev && ino == st.st_ino)
                return Status::error(Code::io_error,
                    "could not walk directory \"" + path + "\": it contains itself through a symbolic link");
        }
        std::vector<std::string> names;
        Status s = list_directory(path, !rel_dir.empty(), names);
        if (!s.is_ok())
            return s;
        bool db_dir = false;
        s = is_database_directory(rel_dir, db_dir);
        if (!s.is_ok())
            return s;
        m_open_dirs.emplace_back(st.st_dev, st.st_ino);
        for (const std::string& name : names) {
            s = visit(path, rel_dir, db_dir, names, name);
            if (!s.is_ok())
                return s;
        }
        m_open_dirs.pop_back();
        return Status::ok();
    }

    // One directory entry, in the order of the checks in sendDir().
    Status visit(const std::string& dir, const std::string& rel_dir, bool db_dir, const std::vector<std::string>& names,
        const std::string& name)
    {
        if (starts_with(name, k_temp_file_prefix) || is_excluded_file(name))
            return Status::ok();
        if (db_dir) {
            size_t oid_chars = 0;
            Fork fork = Fork::main;
            // Every fork of an unlogged relation but the init fork: restore rebuilds them from it.
            if (parse_relation_file_name(name, oid_chars, fork) && fork != Fork::init &&
                std::binary_search(names.begin(), names.end(), name.substr(0, oid_chars) + "_init"))
                return Status::ok();
            if (looks_like_temp_relation(name))
                return Status::ok();
        }
        const std::string path = dir + "/" + name;
        const std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
        struct stat st { };
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT)
                return Status::ok();  // removed since readdir
            return os_error("stat file", path, errno);
        }
        if (rel_dir == "pg_tblspc" && S_ISLNK(st.st_mode))
            return Status::ok();  // a tablespace: walk_tablespace(), or a stray link PostgreSQL ignores too

        const bool wal_dir = rel_dir.empty() && name == "pg_wal";
        if (S_ISLNK(st.st_mode)) {
            struct stat target { };
            if (::stat(path.c_str(), &target) == 0) {
                st = target;
            } else if (errno != ENOENT) {
                return os_error("stat file", path, errno);
            } else if (wal_dir || is_excluded_dir_contents(name)) {
                // A directory PostgreSQL recreates anyway: keep it, as convert_link_to_directory() does.
                st.st_mode = S_IFDIR | k_dir_create_mode;
            } else {
                return Status::ok();  // the target is gone
            }
        }
        if (S_ISDIR(st.st_mode)) {
            add(DataDirEntry::Type::directory, rel, st);
            if (wal_dir) {
                // Segments come from the archive; archive_status must exist for the archiver.
                add(DataDirEntry::Type::directory, rel + "/archive_status", st);
                return Status::ok();
            }
            if (is_excluded_dir_contents(name))
                return Status::ok();
            for (const Tablespace& t : m_tablespaces) {
                if (t.known && t.dev == st.st_dev && t.ino == st.st_ino)
                    return Status::ok();  // a tablespace location inside the data directory: copied once, under
                                          // pg_tblspc
            }
            return walk_tree(path, rel, st);
        }
        if (S_ISREG(st.st_mode))
            add(DataDirEntry::Type::file, rel, st);
        // Sockets, FIFOs and devices are skipped, as PostgreSQL skips them ("skipping special file").
        return Status::ok();
    }

    const std::string m_root;
    const int m_pg_major;
    std::vector<DataDirEntry>& m_entries;
    std::vector<Tablespace> m_tablespaces;
    std::string m_version_dir;
    std::vector<std::pair<dev_t, ino_t>> m_open_dirs;
};

}  // namespace

Status walk_data_directory(const std::string& pgdata, int pg_major, std::vector<DataDirEntry>& entries,
    std::vector<TablespaceLink>& tablespaces)
{
    entries.clear();
    tablespaces.clear();
    Status s;
    try {
        Walker walker(pgdata, pg_major, entries);
        s = walker.run(tablespaces);
    } catch (const std::exception& e) {  // std::bad_alloc and the like
        s = Status::error(Code::io_error, "could not walk data directory \"" + pgdata + "\": " + e.what());
    }
    if (!s.is_ok()) {
        entries.clear();
        tablespaces.clear();
        return s;
    }
    std::sort(
        entries.begin(), entries.end(), [](const DataDirEntry& a, const DataDirEntry& b) { return a.path < b.path; });
    std::sort(tablespaces.begin(), tablespaces.end(),
        [](const TablespaceLink& a, const TablespaceLink& b) { return a.oid < b.oid; });
    return Status::ok();
}

Status read_system_identifier(const std::string& pgdata, uint64_t& out)
{
    uint8_t buf[k_system_identifier_bytes];
    Status s = read_control_prefix(pgdata, buf, sizeof(buf));
    if (!s.is_ok())
        return s;
    std::memcpy(&out, buf, sizeof(out));
    return Status::ok();
}

Status check_data_directory_creator(uint32_t euid, const std::string& command)
{
    if (euid != 0)
        return Status::ok();
    return Status::error(Code::invalid,
        "walvault " + command +
            " cannot be run as root: the data directory would be owned by root, and "
            "PostgreSQL does not start a cluster owned by root",
        "Run it as the operating-system user that will own the cluster, for example \"sudo -u postgres walvault " +
            command + " ...\".");
}

}  // namespace walvault
