// Unit tests for core/pgdata/data_dir: the base backup walk on fake data directories (one scenario per
// exclusion rule of PostgreSQL 15's basebackup.c, tablespaces, symbolic links, errors, files vanishing during
// the walk) and on a real cluster made by initdb, plus the system identifier read from global/pg_control.
#include "core/pgdata/data_dir.h"

#include "test/unit/test_support.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace walvault {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr uint64_t k_fake_system_identifier = 7312345678901234567ULL;
constexpr uint32_t k_pg15_control_version = 1300;       // PG_CONTROL_VERSION in PostgreSQL 15
constexpr uint32_t k_pg15_catalog_version = 202209061;  // CATALOG_VERSION_NO in PostgreSQL 15
constexpr size_t k_control_file_size = 8192;            // PG_CONTROL_FILE_SIZE

// A pg_control that starts like PostgreSQL 15's: system identifier, control version, catalog version.
void write_fake_control(const std::string& path, uint64_t system_identifier)
{
    std::vector<uint8_t> bytes(k_control_file_size, 0);
    std::memcpy(bytes.data(), &system_identifier, sizeof(system_identifier));
    std::memcpy(bytes.data() + 8, &k_pg15_control_version, sizeof(k_pg15_control_version));
    std::memcpy(bytes.data() + 12, &k_pg15_catalog_version, sizeof(k_pg15_catalog_version));
    test::write_file(path, bytes);
}

std::string expand(std::string s, const std::string& pgdata, const std::string& outside)
{
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"{pgdata}", pgdata}, {"{outside}", outside}})
        for (size_t at; (at = s.find(key)) != std::string::npos;)
            s.replace(at, key.size(), value);
    return s;
}

// Builds a tree from lines: "dir/" a directory, "name -> target" a symbolic link, "name|" a FIFO, anything
// else a file holding its own path ("global/pg_control" is a fake control file). A leading '@' puts the
// entry in the directory beside the data directory; {pgdata} and {outside} in targets are the two roots.
void build_tree(const std::string& pgdata, const std::string& outside, const std::vector<std::string>& lines)
{
    fs::create_directories(pgdata);
    fs::create_directories(outside);
    for (const std::string& line : lines) {
        const bool beside = !line.empty() && line[0] == '@';
        const std::string spec = beside ? line.substr(1) : line;
        const std::string root = beside ? outside : pgdata;
        const size_t arrow = spec.find(" -> ");
        const std::string name = arrow == std::string::npos ? spec : spec.substr(0, arrow);
        const std::string path = root + "/" + name;
        if (name.back() == '/') {
            fs::create_directories(path);
            continue;
        }
        fs::create_directories(fs::path(path).parent_path());
        if (arrow != std::string::npos)
            fs::create_symlink(expand(spec.substr(arrow + 4), pgdata, outside), path);
        else if (name.back() == '|')
            ASSERT_EQ(::mkfifo(path.substr(0, path.size() - 1).c_str(), 0600), 0);
        else if (name == "global/pg_control")
            write_fake_control(path, k_fake_system_identifier);
        else
            test::write_file(path, name);
    }
}

// "path" for files, "path/" for directories.
std::vector<std::string> render(const std::vector<DataDirEntry>& entries)
{
    std::vector<std::string> out;
    for (const DataDirEntry& e : entries)
        out.push_back(e.path + (e.type == DataDirEntry::Type::directory ? "/" : ""));
    return out;
}

std::vector<std::string> render(const std::vector<TablespaceLink>& links)
{
    std::vector<std::string> out;
    for (const TablespaceLink& l : links)
        out.push_back(std::to_string(l.oid) + " -> " + l.location);
    return out;
}

struct Scenario {
    const char* name;
    std::vector<std::string> tree;
    std::vector<std::string> expected;              // sorted by path, as the walk returns them
    std::vector<std::string> expected_tablespaces;  // "<oid> -> <location>", by oid
};

const std::vector<Scenario> k_scenarios = {
    // excludeFiles
    {"postmaster.pid", {"PG_VERSION", "postmaster.pid"}, {"PG_VERSION"}, {}},
    {"postmaster.opts", {"PG_VERSION", "postmaster.opts"}, {"PG_VERSION"}, {}},
    {"backup_label", {"backup_label", "backup_label.old"}, {"backup_label.old"}, {}},
    {"tablespace_map", {"tablespace_map", "tablespace_map.old"}, {"tablespace_map.old"}, {}},
    {"backup_manifest", {"backup_manifest", "PG_VERSION"}, {"PG_VERSION"}, {}},
    {"postgresql.auto.conf.tmp", {"postgresql.auto.conf", "postgresql.auto.conf.tmp", "other.tmp"},
        {"other.tmp", "postgresql.auto.conf"}, {}},
    {"current_logfiles.tmp", {"current_logfiles", "current_logfiles.tmp"}, {"current_logfiles"}, {}},
    {"pg_internal.init and its temporary files, in any directory",
        {"global/pg_internal.init", "global/pg_internal.init.4242", "global/1262", "base/5/pg_internal.init"},
        {"base/", "base/5/", "global/", "global/1262"}, {}},
    // PG_TEMP_FILE_PREFIX
    {"pgsql_tmp files and directories",
        {"base/pgsql_tmp/pgsql_tmp1234.0", "base/5/pgsql_tmp_sort", "pgsql_tmp_root/", "base/5/16384"},
        {"base/", "base/5/", "base/5/16384"}, {}},
    // excludeDirContents
    {"pg_stat_tmp", {"pg_stat_tmp/pg_stat_statements.stat", "pg_stat_tmp/sub/x"}, {"pg_stat_tmp/"}, {}},
    {"pg_replslot", {"pg_replslot/slot1/state"}, {"pg_replslot/"}, {}},
    {"pg_dynshmem", {"pg_dynshmem/mmap.1804289383"}, {"pg_dynshmem/"}, {}},
    {"pg_notify", {"pg_notify/0000"}, {"pg_notify/"}, {}},
    {"pg_serial", {"pg_serial/0000"}, {"pg_serial/"}, {}},
    {"pg_snapshots", {"pg_snapshots/00000003-00000002-1"}, {"pg_snapshots/"}, {}},
    {"pg_subtrans", {"pg_subtrans/0000"}, {"pg_subtrans/"}, {}},
    {"excluded directory contents by name in any directory", {"base/pg_notify/0000"}, {"base/", "base/pg_notify/"}, {}},
    {"symbolic link named like an excluded directory", {"@slots/slot1/state", "pg_replslot -> {outside}/slots"},
        {"pg_replslot/"}, {}},
    // pg_wal
    {"pg_wal: the directory and archive_status only",
        {"pg_wal/000000010000000000000001", "pg_wal/00000002.history",
            "pg_wal/archive_status/000000010000000000000001.ready"},
        {"pg_wal/", "pg_wal/archive_status/"}, {}},
    {"pg_wal as a symbolic link (initdb -X)",
        {"@wal/000000010000000000000001", "@wal/archive_status/000000010000000000000001.done",
            "pg_wal -> {outside}/wal"},
        {"pg_wal/", "pg_wal/archive_status/"}, {}},
    {"pg_wal as a dangling symbolic link", {"pg_wal -> {outside}/no-such-wal"}, {"pg_wal/", "pg_wal/archive_status/"},
        {}},
    {"pg_wal without archive_status", {"pg_wal/"}, {"pg_wal/", "pg_wal/archive_status/"}, {}},
    {"pg_wal below the top is an ordinary directory", {"base/pg_wal/x"}, {"base/", "base/pg_wal/", "base/pg_wal/x"},
        {}},
    // unlogged relations (parse_filename_for_nontemp_relation)
    {"unlogged relation: only the init fork",
        {"base/5/16384_init", "base/5/16384", "base/5/16384.1", "base/5/16384_fsm", "base/5/16384_vm", "base/5/16385",
            "base/5/16385.1", "base/5/16385_fsm", "base/5/16385_vm"},
        {"base/", "base/5/", "base/5/16384_init", "base/5/16385", "base/5/16385.1", "base/5/16385_fsm",
            "base/5/16385_vm"},
        {}},
    {"unlogged forks only in database directories",
        {"global/1262_init", "global/1262", "base/notadb/16384_init", "base/notadb/16384"},
        {"base/", "base/notadb/", "base/notadb/16384", "base/notadb/16384_init", "global/", "global/1262",
            "global/1262_init"},
        {}},
    {"names that are not relation files are kept beside an init fork",
        {"base/5/16384_init", "base/5/16384_main", "base/5/16384.", "base/5/16384_fsm.x", "base/5/12345678901"},
        {"base/", "base/5/", "base/5/12345678901", "base/5/16384.", "base/5/16384_fsm.x", "base/5/16384_init",
            "base/5/16384_main"},
        {}},
    // temporary relations (looks_like_temp_rel_name)
    {"temporary relations",
        {"base/5/t3_16400", "base/5/t3_16400.1", "base/5/t3_16400_fsm", "base/5/t3_16400_vm", "base/5/t3_16400_init",
            "base/5/t_16400", "base/5/t3_", "base/5/t3_16400_x", "base/5/t3_16400.", "global/t3_16400"},
        {"base/", "base/5/", "base/5/t3_", "base/5/t3_16400.", "base/5/t3_16400_x", "base/5/t_16400", "global/",
            "global/t3_16400"},
        {}},
    // symbolic links and special files
    {"symbolic link to a file is followed",
        {"@conf/postgresql.conf", "postgresql.conf -> {outside}/conf/postgresql.conf"}, {"postgresql.conf"}, {}},
    {"symbolic link to a directory is followed", {"@logs/postgresql.log", "log -> {outside}/logs"},
        {"log/", "log/postgresql.log"}, {}},
    {"dangling symbolic link is left out", {"PG_VERSION", "gone -> {outside}/no-such-file"}, {"PG_VERSION"}, {}},
    {"FIFOs are left out", {"PG_VERSION", "fifo|"}, {"PG_VERSION"}, {}},
    // tablespaces
    {"tablespace: only this version's directory, with the same exclusions",
        {"global/pg_control", "pg_tblspc/", "@ts/PG_15_202209061/16384/16385", "@ts/PG_15_202209061/16384/16390_init",
            "@ts/PG_15_202209061/16384/16390", "@ts/PG_15_202209061/16384/16390_vm",
            "@ts/PG_15_202209061/16384/t4_16391", "@ts/PG_15_202209061/pgsql_tmp/pgsql_tmp77.0",
            "@ts/PG_16_202307071/16384/16385", "@ts/PG_15_202207051/16384/16385", "@ts2/PG_15_202209061/",
            "pg_tblspc/16400 -> {outside}/ts", "pg_tblspc/16500 -> {outside}/ts2"},
        {"global/", "global/pg_control", "pg_tblspc/", "pg_tblspc/16400/PG_15_202209061/",
            "pg_tblspc/16400/PG_15_202209061/16384/", "pg_tblspc/16400/PG_15_202209061/16384/16385",
            "pg_tblspc/16400/PG_15_202209061/16384/16390_init", "pg_tblspc/16500/PG_15_202209061/"},
        {"16400 -> {outside}/ts", "16500 -> {outside}/ts2"}},
    {"tablespace without this version's directory",
        {"global/pg_control", "@ts/PG_16_202307071/1/1", "pg_tblspc/16401 -> {outside}/ts"},
        {"global/", "global/pg_control", "pg_tblspc/"}, {"16401 -> {outside}/ts"}},
    {"stray names in pg_tblspc are not tablespaces",
        {"@ts/PG_15_202209061/5/1", "pg_tblspc/notanoid -> {outside}/ts", "pg_tblspc/99999999999 -> {outside}/ts"},
        {"pg_tblspc/"}, {}},
    {"tablespace located inside the data directory is walked once",
        {"global/pg_control", "tbs/PG_15_202209061/5/16384", "pg_tblspc/16402 -> {pgdata}/tbs"},
        {"global/", "global/pg_control", "pg_tblspc/", "pg_tblspc/16402/PG_15_202209061/",
            "pg_tblspc/16402/PG_15_202209061/5/", "pg_tblspc/16402/PG_15_202209061/5/16384", "tbs/"},
        {"16402 -> {pgdata}/tbs"}},
    {"in-place tablespace (allow_in_place_tablespaces) is an ordinary directory",
        {"global/pg_control", "pg_tblspc/16403/PG_15_202209061/5/16390_init", "pg_tblspc/16403/PG_15_202209061/5/16390",
            "pg_tblspc/16403/PG_15_202209061/5/t2_16391", "pg_tblspc/16403/PG_16_202307071/5/16390_init",
            "pg_tblspc/16403/PG_16_202307071/5/16390"},
        {"global/", "global/pg_control", "pg_tblspc/", "pg_tblspc/16403/", "pg_tblspc/16403/PG_15_202209061/",
            "pg_tblspc/16403/PG_15_202209061/5/", "pg_tblspc/16403/PG_15_202209061/5/16390_init",
            "pg_tblspc/16403/PG_16_202307071/", "pg_tblspc/16403/PG_16_202307071/5/",
            "pg_tblspc/16403/PG_16_202307071/5/16390", "pg_tblspc/16403/PG_16_202307071/5/16390_init"},
        {}},
};

TEST(DataDirWalk, Scenarios)
{
    for (const Scenario& sc : k_scenarios) {
        SCOPED_TRACE(sc.name);
        TempDir tmp;
        const std::string pgdata = tmp / "pgdata";
        const std::string outside = tmp / "outside";
        build_tree(pgdata, outside, sc.tree);
        std::vector<DataDirEntry> entries;
        std::vector<TablespaceLink> links;
        WV_ASSERT_OK(walk_data_directory(pgdata, 15, entries, links));
        EXPECT_EQ(render(entries), sc.expected);
        std::vector<std::string> expected_links;
        for (const std::string& l : sc.expected_tablespaces)
            expected_links.push_back(expand(l, pgdata, outside));
        EXPECT_EQ(render(links), expected_links);
    }
}

TEST(DataDirWalk, ReportsSizeTimeAndPermissions)
{
    TempDir tmp;
    const std::string pgdata = tmp / "pgdata";
    const std::string outside = tmp / "outside";
    build_tree(pgdata, outside, {"@wal/", "pg_wal -> {outside}/wal"});
    fs::create_directories(pgdata + "/base/1");
    test::write_file(pgdata + "/base/1/1259", std::string(12345, 'r'));
    test::write_file(pgdata + "/PG_VERSION", "15\n");
    ASSERT_EQ(::chmod((pgdata + "/base/1/1259").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((pgdata + "/PG_VERSION").c_str(), 0640), 0);
    ASSERT_EQ(::chmod((pgdata + "/base").c_str(), 0700), 0);
    ASSERT_EQ(::chmod((pgdata + "/base/1").c_str(), 0750), 0);
    ASSERT_EQ(::chmod((outside + "/wal").c_str(), 0710), 0);
    const struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
    for (const char* rel : {"/base/1/1259", "/PG_VERSION", "/base", "/base/1"})
        ASSERT_EQ(::utimensat(AT_FDCWD, (pgdata + rel).c_str(), times, 0), 0);
    const struct timespec wal_times[2] = {{1600000000, 0}, {1600000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (outside + "/wal").c_str(), wal_times, 0), 0);

    std::vector<DataDirEntry> entries;
    std::vector<TablespaceLink> links;
    WV_ASSERT_OK(walk_data_directory(pgdata, 15, entries, links));
    ASSERT_EQ(entries.size(), 6u);
    const auto check = [&](size_t i, DataDirEntry::Type type, const char* path, uint64_t size, int64_t mtime,
                           uint32_t mode) {
        SCOPED_TRACE(path);
        EXPECT_EQ(entries[i].type, type);
        EXPECT_EQ(entries[i].path, path);
        EXPECT_EQ(entries[i].size, size);
        EXPECT_EQ(entries[i].mtime, mtime);
        EXPECT_EQ(entries[i].mode, mode);
    };
    using Type = DataDirEntry::Type;
    check(0, Type::file, "PG_VERSION", 3, 1700000000, 0640);
    check(1, Type::directory, "base", 0, 1700000000, 0700);
    check(2, Type::directory, "base/1", 0, 1700000000, 0750);
    check(3, Type::file, "base/1/1259", 12345, 1700000000, 0600);
    // pg_wal is a symbolic link: the directory it points to, and archive_status alike.
    check(4, Type::directory, "pg_wal", 0, 1600000000, 0710);
    check(5, Type::directory, "pg_wal/archive_status", 0, 1600000000, 0710);
}

TEST(DataDirWalk, MissingDataDirectory)
{
    TempDir tmp;
    std::vector<DataDirEntry> entries(1);
    std::vector<TablespaceLink> links(1);
    const Status s = walk_data_directory(tmp / "nothing", 15, entries, links);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "could not open data directory \"" + (tmp / "nothing") + "\": No such file or directory");
    EXPECT_TRUE(entries.empty());
    EXPECT_TRUE(links.empty());
}

TEST(DataDirWalk, DataDirectoryIsAFile)
{
    TempDir tmp;
    test::write_file(tmp / "file", "x");
    std::vector<DataDirEntry> entries;
    std::vector<TablespaceLink> links;
    const Status s = walk_data_directory(tmp / "file", 15, entries, links);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "data directory \"" + (tmp / "file") + "\" is not a directory");
}

// Runs the walk as "nobody" in a child process when we are root (root reads any directory), and returns its
// status code and message as "<code>: <message> (<n> entries)".
std::string walk_as_unprivileged(const std::string& pgdata)
{
    const auto walk = [&]() {
        std::vector<DataDirEntry> entries(3);
        std::vector<TablespaceLink> links(2);
        const Status s = walk_data_directory(pgdata, 15, entries, links);
        return std::string(code_name(s.code())) + ": " + s.message() + " (" +
            std::to_string(entries.size() + links.size()) + " entries)";
    };
    if (::geteuid() != 0)
        return walk();
    int fds[2];
    if (::pipe(fds) != 0)
        return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        const gid_t nobody = 65534;
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0)
            ::_exit(2);
        const std::string out = walk();
        const ssize_t n = ::write(fds[1], out.data(), out.size());
        ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 3);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
        out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "child failed with status " + std::to_string(status);
    return out;
}

TEST(DataDirWalk, UnreadableDirectoryFailsNamingIt)
{
    TempDir tmp;
    const std::string pgdata = tmp / "pgdata";
    build_tree(pgdata, tmp / "outside", {"PG_VERSION", "base/5/16384", "global/1262"});
    // Everything readable by others except base/5, which only its owner (root, or us) may open.
    ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
    ASSERT_EQ(::chmod((pgdata + "/base/5").c_str(), ::geteuid() == 0 ? 0700 : 0), 0);
    EXPECT_EQ(walk_as_unprivileged(pgdata),
        "io_error: could not open directory \"" + pgdata + "/base/5\": Permission denied (0 entries)");
    ASSERT_EQ(::chmod((pgdata + "/base/5").c_str(), 0700), 0);
}

TEST(DataDirWalk, Errors)
{
    struct ErrorCase {
        const char* name;
        std::vector<std::string> tree;
        Code code;
        std::string message;
    };
    const std::vector<ErrorCase> cases = {
        {"symbolic link to itself", {"PG_VERSION", "loop -> {pgdata}/loop"}, Code::io_error,
            "could not stat file \"{pgdata}/loop\": Too many levels of symbolic links"},
        {"directory that contains itself through a symbolic link", {"base/5/16384", "base/5/up -> {pgdata}/base"},
            Code::io_error,
            "could not walk directory \"{pgdata}/base/5/up\": it contains itself through a symbolic link"},
        {"tablespace without global/pg_control", {"@ts/PG_15_202209061/", "pg_tblspc/16400 -> {outside}/ts"},
            Code::not_found,
            "could not read the catalog version for the tablespace directories: could not open file "
            "\"{pgdata}/global/pg_control\": No such file or directory"},
        {"tablespace version entry that is not a directory",
            {"global/pg_control", "@ts/PG_15_202209061", "pg_tblspc/16400 -> {outside}/ts"}, Code::io_error,
            "tablespace directory \"{pgdata}/pg_tblspc/16400/PG_15_202209061\" is not a directory"},
    };
    for (const ErrorCase& c : cases) {
        SCOPED_TRACE(c.name);
        TempDir tmp;
        const std::string pgdata = tmp / "pgdata";
        const std::string outside = tmp / "outside";
        build_tree(pgdata, outside, c.tree);
        std::vector<DataDirEntry> entries(1);
        std::vector<TablespaceLink> links(1);
        const Status s = walk_data_directory(pgdata, 15, entries, links);
        EXPECT_EQ(s.code(), c.code);
        EXPECT_EQ(s.message(), expand(c.message, pgdata, outside));
        EXPECT_TRUE(entries.empty());
        EXPECT_TRUE(links.empty());
    }
}

// Files and directories come and go in base/5 while the walk runs, as they do under a running server:
// every walk succeeds and lists only names that existed.
TEST(DataDirWalk, FilesVanishingDuringTheWalkAreLeftOut)
{
    TempDir tmp;
    const std::string pgdata = tmp / "pgdata";
    build_tree(pgdata, tmp / "outside", {"PG_VERSION", "base/5/1259"});
    constexpr int k_names = 200;
    for (int i = 0; i < k_names; ++i) {
        test::write_file(pgdata + "/base/5/" + std::to_string(20000 + i), "x");
        fs::create_directories(pgdata + "/base/5/d" + std::to_string(i) + "/sub");
    }
    std::atomic<bool> stop{false};
    std::thread churn([&] {
        for (int round = 0; !stop.load(); ++round) {
            for (int i = 0; i < k_names; ++i) {
                const std::string file = pgdata + "/base/5/" + std::to_string(20000 + i);
                const std::string dir = pgdata + "/base/5/d" + std::to_string(i);
                std::error_code ec;
                if (round % 2 == 0) {
                    fs::remove(file, ec);
                    fs::remove_all(dir, ec);
                } else {
                    test::write_file(file, "x");
                    fs::create_directories(dir + "/sub", ec);
                }
            }
        }
    });
    int failures = 0;
    for (int walk = 0; walk < 100; ++walk) {
        std::vector<DataDirEntry> entries;
        std::vector<TablespaceLink> links;
        const Status s = walk_data_directory(pgdata, 15, entries, links);
        if (!s.is_ok()) {
            ADD_FAILURE() << s.message();
            ++failures;
            break;
        }
        for (const DataDirEntry& e : entries) {
            const bool known = e.path == "PG_VERSION" || e.path == "base" || e.path == "base/5" ||
                e.path == "base/5/1259" || e.path.rfind("base/5/2", 0) == 0 || e.path.rfind("base/5/d", 0) == 0;
            EXPECT_TRUE(known) << e.path;
        }
    }
    stop = true;
    churn.join();
    EXPECT_EQ(failures, 0);
}

TEST(ReadSystemIdentifier, ReadsTheFirstEightBytesOfPgControl)
{
    TempDir tmp;
    fs::create_directories(tmp / "global");
    write_fake_control(tmp / "global/pg_control", k_fake_system_identifier);
    uint64_t id = 0;
    WV_ASSERT_OK(read_system_identifier(tmp.path(), id));
    EXPECT_EQ(id, k_fake_system_identifier);
}

TEST(CheckDataDirectoryCreator, RootIsRefusedWithAHint)
{
    WV_EXPECT_OK(check_data_directory_creator(1000, "restore"));
    WV_EXPECT_OK(check_data_directory_creator(107, "restore"));
    const Status s = check_data_directory_creator(0, "restore");
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(),
        "walvault restore cannot be run as root: the data directory would be owned by root, and PostgreSQL does "
        "not start a cluster owned by root");
    EXPECT_EQ(s.hint(),
        "Run it as the operating-system user that will own the cluster, for example \"sudo -u postgres walvault "
        "restore ...\".");
}

TEST(ReadSystemIdentifier, MissingPgControl)
{
    TempDir tmp;
    uint64_t id = 0;
    const Status s = read_system_identifier(tmp.path(), id);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "could not open file \"" + (tmp / "global/pg_control") + "\": No such file or directory");
    EXPECT_EQ(s.hint(), "Check that \"" + tmp.path() + "\" is the data directory of a PostgreSQL cluster.");
}

TEST(ReadSystemIdentifier, ShortPgControl)
{
    TempDir tmp;
    fs::create_directories(tmp / "global");
    test::write_file(tmp / "global/pg_control", "abc");
    uint64_t id = 0;
    const Status s = read_system_identifier(tmp.path(), id);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "could not read file \"" + (tmp / "global/pg_control") + "\": read 3 of 8 bytes");
    EXPECT_EQ(s.hint(), "The file is not a PostgreSQL control file, or it was truncated.");
}

// ---- a real PostgreSQL 15 cluster ------------------------------------------------------------------------

constexpr const char* k_pg_bin = "/usr/lib/postgresql/15/bin";

// Runs a shell command as the postgres user when we are root (PostgreSQL refuses to run as root) and returns
// its exit status; out gets stdout and stderr.
int run_as_postgres(const std::string& command, std::string& out)
{
    const std::string full = (::geteuid() == 0 ? "runuser -u postgres -- " : "") + command + " 2>&1";
    out.clear();
    FILE* p = ::popen(full.c_str(), "r");
    if (p == nullptr)
        return -1;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;)
        out.append(buf, n);
    return ::pclose(p);
}

// The value after "<label>:" in pg_controldata's output.
std::string controldata_value(const std::string& text, const std::string& label)
{
    const size_t at = text.find(label + ":");
    if (at == std::string::npos)
        return "";
    const size_t begin = text.find_first_not_of(' ', at + label.size() + 1);
    return text.substr(begin, text.find('\n', begin) - begin);
}

bool has_entry(const std::vector<DataDirEntry>& entries, const std::string& path, DataDirEntry::Type type)
{
    return std::any_of(
        entries.begin(), entries.end(), [&](const DataDirEntry& e) { return e.path == path && e.type == type; });
}

bool has_path(const std::vector<DataDirEntry>& entries, const std::string& path)
{
    return std::any_of(entries.begin(), entries.end(), [&](const DataDirEntry& e) { return e.path == path; });
}

// Stops the server at the end of the test whatever happened.
struct ServerGuard {
    std::string pgdata;
    bool running = false;
    ~ServerGuard()
    {
        std::string out;
        if (running)
            run_as_postgres(std::string(k_pg_bin) + "/pg_ctl -D " + pgdata + " -m immediate -w stop", out);
    }
};

TEST(DataDirWalkRealCluster, InitdbStartAndWalk)
{
    TempDir tmp;
    const std::string pgdata = tmp / "data";
    const std::string ts = tmp / "ts";
    fs::create_directories(ts);
    if (::geteuid() == 0) {
        const struct passwd* pw = ::getpwnam("postgres");
        ASSERT_NE(pw, nullptr) << "no postgres user";
        ASSERT_EQ(::chown(tmp.path().c_str(), pw->pw_uid, pw->pw_gid), 0);
        ASSERT_EQ(::chown(ts.c_str(), pw->pw_uid, pw->pw_gid), 0);
    }
    std::string out;
    ASSERT_EQ(run_as_postgres(std::string(k_pg_bin) + "/initdb -D " + pgdata + " -A trust -U postgres -N", out), 0)
        << out;
    ASSERT_EQ(run_as_postgres(std::string(k_pg_bin) + "/pg_controldata " + pgdata, out), 0) << out;
    const std::string system_identifier = controldata_value(out, "Database system identifier");
    const std::string catalog_version = controldata_value(out, "Catalog version number");
    ASSERT_FALSE(system_identifier.empty()) << out;
    ASSERT_FALSE(catalog_version.empty()) << out;

    uint64_t id = 0;
    WV_ASSERT_OK(read_system_identifier(pgdata, id));
    EXPECT_EQ(std::to_string(id), system_identifier);

    // The fresh data directory, server stopped.
    std::vector<DataDirEntry> entries;
    std::vector<TablespaceLink> links;
    WV_ASSERT_OK(walk_data_directory(pgdata, 15, entries, links));
    EXPECT_TRUE(has_entry(entries, "PG_VERSION", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "global/pg_control", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "base/1", DataDirEntry::Type::directory));
    EXPECT_TRUE(has_entry(entries, "base/1/PG_VERSION", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "pg_wal", DataDirEntry::Type::directory));
    EXPECT_TRUE(has_entry(entries, "pg_wal/archive_status", DataDirEntry::Type::directory));
    EXPECT_TRUE(test::file_exists(pgdata + "/pg_wal/000000010000000000000001"));
    EXPECT_FALSE(has_path(entries, "pg_wal/000000010000000000000001"));
    EXPECT_TRUE(links.empty());

    // Started, with a tablespace and unlogged tables in it and in base/.
    ServerGuard guard{pgdata};
    const std::string port = std::to_string(test::unused_local_port());
    ASSERT_EQ(run_as_postgres(std::string(k_pg_bin) + "/pg_ctl -D " + pgdata + " -l " + tmp.path() +
                      "/server.log -w -o \"-c listen_addresses='' -k " + tmp.path() + " -p " + port + "\" start",
                  out),
        0)
        << out;
    guard.running = true;
    ASSERT_EQ(run_as_postgres(std::string(k_pg_bin) + "/psql -X -q -At -h " + tmp.path() + " -p " + port +
                      " -U postgres -d postgres -v ON_ERROR_STOP=1 -c \"CREATE TABLESPACE ts LOCATION '" + ts +
                      "'\" -c 'CREATE UNLOGGED TABLE u_ts (i int) TABLESPACE ts' " +
                      "-c 'CREATE UNLOGGED TABLE u_base (i int)' -c 'INSERT INTO u_base VALUES (1)' " +
                      "-c \"SELECT oid FROM pg_tablespace WHERE spcname = 'ts'\" " +
                      "-c \"SELECT pg_relation_filepath('u_ts')\" " + "-c \"SELECT pg_relation_filepath('u_base')\"",
                  out),
        0)
        << out;
    std::vector<std::string> lines;
    for (size_t begin = 0, end; (end = out.find('\n', begin)) != std::string::npos; begin = end + 1)
        lines.push_back(out.substr(begin, end - begin));
    ASSERT_EQ(lines.size(), 3u) << out;
    const std::string& ts_oid = lines[0];
    const std::string& u_ts = lines[1];    // pg_tblspc/<oid>/PG_15_<catalog version>/<db>/<relfilenode>
    const std::string& u_base = lines[2];  // base/<db>/<relfilenode>
    ASSERT_TRUE(test::file_exists(pgdata + "/postmaster.pid"));
    ASSERT_TRUE(test::file_exists(pgdata + "/postmaster.opts"));
    ASSERT_TRUE(test::file_exists(pgdata + "/" + u_base));
    ASSERT_TRUE(test::file_exists(pgdata + "/" + u_ts));

    WV_ASSERT_OK(walk_data_directory(pgdata, 15, entries, links));
    EXPECT_TRUE(has_entry(entries, "PG_VERSION", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "global/pg_control", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "base/1/PG_VERSION", DataDirEntry::Type::file));
    EXPECT_TRUE(has_entry(entries, "pg_wal", DataDirEntry::Type::directory));
    EXPECT_FALSE(has_path(entries, "postmaster.pid"));
    EXPECT_FALSE(has_path(entries, "postmaster.opts"));
    for (const char* dir : {"pg_replslot", "pg_notify", "pg_subtrans", "pg_stat_tmp", "pg_snapshots"})
        EXPECT_TRUE(has_entry(entries, dir, DataDirEntry::Type::directory)) << dir;
    EXPECT_TRUE(has_entry(entries, u_base + "_init", DataDirEntry::Type::file));
    EXPECT_FALSE(has_path(entries, u_base));
    EXPECT_EQ(u_ts.rfind("pg_tblspc/" + ts_oid + "/PG_15_" + catalog_version + "/", 0), 0u) << u_ts;
    EXPECT_TRUE(has_entry(entries, "pg_tblspc/" + ts_oid + "/PG_15_" + catalog_version, DataDirEntry::Type::directory));
    EXPECT_TRUE(has_entry(entries, u_ts + "_init", DataDirEntry::Type::file));
    EXPECT_FALSE(has_path(entries, u_ts));
    EXPECT_FALSE(has_path(entries, "pg_tblspc/" + ts_oid));
    EXPECT_EQ(render(links), std::vector<std::string>{ts_oid + " -> " + ts});
    for (size_t i = 1; i < entries.size(); ++i)
        EXPECT_LT(entries[i - 1].path, entries[i].path);
}

}  // namespace
}  // namespace walvault
