// Unit tests for core/pgdata/pg_backup_manifest: the exact bytes for fixed inputs (checksums computed with
// sha256sum, path lines as PostgreSQL 15's pg_basebackup wrote them), and PostgreSQL's own pg_verifybackup
// accepting a written manifest, then catching a changed file and a damaged manifest.
#include "core/pgdata/pg_backup_manifest.h"

#include "core/codec/crc32c.h"
#include "core/codec/sha256.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

constexpr const char* k_pg_verifybackup = "/usr/lib/postgresql/15/bin/pg_verifybackup";

// sha256("walvault"), a stand-in checksum for files that are not on disk.
constexpr const char* k_sha256_walvault = "5e13b5cc7b1700820af5740bdff562bde68c49061fc54962531836b0cd1526d7";
constexpr int64_t k_mtime_2023_11_14 = 1700000000;  // 2023-11-14 22:13:20 UTC

PgManifestFile file_entry(const std::string& path)
{
    PgManifestFile f;
    f.path = path;
    f.size = 1;
    f.mtime = k_mtime_2023_11_14;
    f.checksum = k_sha256_walvault;
    return f;
}

// The line a manifest with this one file has for it (the third line).
std::string file_line(const PgManifestFile& file)
{
    const std::string text = pg_backup_manifest({file}, {});
    const size_t start = text.find("\n", text.find("\n") + 1) + 1;
    return text.substr(start, text.find("\n", start) - start);
}

std::string line_for_path(const std::string& path)
{
    return file_line(file_entry(path));
}

// The middle of each line for a one-byte file, as in the tests above.
std::string path_line(const std::string& path_field)
{
    return "{ " + path_field +
        ", \"Size\": 1, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\", \"Checksum-Algorithm\": \"SHA256\", "
        "\"Checksum\": \"" +
        k_sha256_walvault + "\" }";
}

TEST(PgBackupManifest, ExactTextForOneFileAndOneWalRange)
{
    PgManifestFile file;
    file.path = "global/pg_control";
    file.size = 8192;
    file.mtime = k_mtime_2023_11_14;
    file.checksum = k_sha256_walvault;
    const PgManifestWalRange wal{3, 0x1A0000028, 0x1A0000100};

    // The checksum is sha256sum of everything up to and including "],\n" after the WAL ranges.
    const std::string expected = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
                                 "\"Files\": [\n"
                                 "{ \"Path\": \"global/pg_control\", \"Size\": 8192, \"Last-Modified\": "
                                 "\"2023-11-14 22:13:20 GMT\", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": "
                                 "\"5e13b5cc7b1700820af5740bdff562bde68c49061fc54962531836b0cd1526d7\" }\n"
                                 "],\n"
                                 "\"WAL-Ranges\": [\n"
                                 "{ \"Timeline\": 3, \"Start-LSN\": \"1/A0000028\", \"End-LSN\": \"1/A0000100\" }\n"
                                 "],\n"
                                 "\"Manifest-Checksum\": "
                                 "\"25497da614da63001897c39e77f44158155c6779811feed10df4c078fed9c9e7\"}\n";
    EXPECT_EQ(pg_backup_manifest({file}, {wal}), expected);
}

TEST(PgBackupManifest, ExactTextWithNoFilesAndNoWalRanges)
{
    // PostgreSQL's layout with both lists empty; pg_verifybackup accepts it.
    EXPECT_EQ(pg_backup_manifest({}, {}),
        "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n"
        "\"Files\": [\n"
        "],\n"
        "\"WAL-Ranges\": [\n"
        "\n"
        "],\n"
        "\"Manifest-Checksum\": \"1c8c3f0bd30a0830a4f1e44d04b090e96eda6c1d221cb4c2734512dbdba9b164\"}\n");
}

TEST(PgBackupManifest, Version2HasTheSystemIdentifier)
{
    // PostgreSQL 17's and 18's layout (their BASE_BACKUP manifest): the version, then System-Identifier.
    EXPECT_EQ(pg_backup_manifest({}, {}, {2, 7441862305426481233ULL}),
        "{ \"PostgreSQL-Backup-Manifest-Version\": 2,\n"
        "\"System-Identifier\": 7441862305426481233,\n"
        "\"Files\": [\n"
        "],\n"
        "\"WAL-Ranges\": [\n"
        "\n"
        "],\n"
        "\"Manifest-Checksum\": \"c487866cceeca5c7ed0c6a404d1dfa5412a7e9221e58eb686375086b2d92e834\"}\n");
}

TEST(PgBackupManifest, FormatFollowsTheServerMajor)
{
    EXPECT_EQ(pg_manifest_format_for(150020, 42).version, 1);
    EXPECT_EQ(pg_manifest_format_for(160013, 42).version, 1);
    EXPECT_EQ(pg_manifest_format_for(170010, 42).version, 2);
    EXPECT_EQ(pg_manifest_format_for(170010, 42).system_identifier, 42U);
    EXPECT_EQ(pg_manifest_format_for(180004, 42).version, 2);
    // Version 1 has no System-Identifier line whatever the identifier.
    EXPECT_EQ(pg_backup_manifest({}, {}, pg_manifest_format_for(150020, 42)), pg_backup_manifest({}, {}));
}

TEST(PgBackupManifest, SeveralEntriesInGivenOrder)
{
    PgManifestFile a = file_entry("PG_VERSION");
    a.size = 3;
    PgManifestFile b = file_entry("base/1/1259");
    b.size = 16384;
    b.mtime = 0;
    const std::vector<PgManifestWalRange> wal = {{2, 0x3000000, 0x3000100}, {1, 0x2000028, 0x3000000}};
    const std::string text = pg_backup_manifest({b, a}, wal);
    const std::string body = "\"Files\": [\n"
                             "{ \"Path\": \"base/1/1259\", \"Size\": 16384, \"Last-Modified\": "
                             "\"1970-01-01 00:00:00 GMT\", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" +
        std::string(k_sha256_walvault) +
        "\" },\n"
        "{ \"Path\": \"PG_VERSION\", \"Size\": 3, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\", "
        "\"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"" +
        k_sha256_walvault +
        "\" }\n"
        "],\n"
        "\"WAL-Ranges\": [\n"
        "{ \"Timeline\": 2, \"Start-LSN\": \"0/3000000\", \"End-LSN\": \"0/3000100\" },\n"
        "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/3000000\" }\n"
        "],\n";
    EXPECT_NE(text.find(body), std::string::npos) << text;
}

TEST(PgBackupManifest, ChecksumCoversEverythingBeforeTheLastLine)
{
    // pg_verifybackup's rule: SHA-256 of the bytes up to and including the penultimate newline, and the
    // text ends with a newline.
    PgManifestFile odd = file_entry("a\nb");
    const std::vector<std::string> texts = {pg_backup_manifest({}, {}),
        pg_backup_manifest({file_entry("x"), odd}, {{1, 0x10, 0x20}}),
        pg_backup_manifest({file_entry("only")}, {{7, 0xFFFFFFFF00000000, 0xFFFFFFFFFFFFFFFF}})};
    for (const std::string& text : texts) {
        ASSERT_EQ(text.back(), '\n');
        const size_t penultimate = text.rfind('\n', text.size() - 2);
        ASSERT_NE(penultimate, std::string::npos);
        const std::string covered = text.substr(0, penultimate + 1);
        const std::string last_line = text.substr(penultimate + 1);
        EXPECT_EQ(last_line,
            "\"Manifest-Checksum\": \"" + sha256_hex(reinterpret_cast<const uint8_t*>(covered.data()), covered.size()) +
                "\"}\n");
    }
}

TEST(PgBackupManifest, LsnsAreUpperCaseHexWithoutPadding)
{
    const std::string text = pg_backup_manifest({}, {{4294967295u, 0xFFFFFFFF00000000, 0xABCDEF0123456789}});
    EXPECT_NE(text.find("{ \"Timeline\": 4294967295, \"Start-LSN\": \"FFFFFFFF/0\", \"End-LSN\": "
                        "\"ABCDEF01/23456789\" }\n"),
        std::string::npos)
        << text;
}

TEST(PgBackupManifest, PathsEscapedAsPostgresDoes)
{
    // The first five are the lines PostgreSQL 15.20's pg_basebackup --manifest-checksums=SHA256 wrote for
    // files of these names (checksum and time aside).
    EXPECT_EQ(line_for_path("q\"b\\s"), path_line("\"Path\": \"q\\\"b\\\\s\""));
    EXPECT_EQ(line_for_path("tab\there"), path_line("\"Path\": \"tab\\there\""));
    EXPECT_EQ(line_for_path("ctl\x01x"), path_line("\"Path\": \"ctl\\u0001x\""));
    EXPECT_EQ(line_for_path("utf\xc3\xa9\x7f"), path_line("\"Path\": \"utf\xc3\xa9\x7f\""));
    EXPECT_EQ(line_for_path("bad\xff\xfename"), path_line("\"Encoded-Path\": \"626164fffe6e616d65\""));

    // escape_json()'s other cases: \b \f \n \r, lower-case \u00xx; '/' and 4-byte UTF-8 stay as they are.
    EXPECT_EQ(line_for_path("\b\f\n\r\x1f/x"), path_line("\"Path\": \"\\b\\f\\n\\r\\u001f/x\""));
    EXPECT_EQ(line_for_path("smile\xf0\x9f\x98\x80"), path_line("\"Path\": \"smile\xf0\x9f\x98\x80\""));
    EXPECT_EQ(line_for_path("pg_tblspc/16384/PG_15_202209061/5/16385"),
        path_line("\"Path\": \"pg_tblspc/16384/PG_15_202209061/5/16385\""));

    // What pg_verify_mbstr(PG_UTF8) rejects goes hex-encoded: overlong, surrogate, above U+10FFFF,
    // truncated, a lone continuation byte.
    EXPECT_EQ(line_for_path("\xc0\xaf"), path_line("\"Encoded-Path\": \"c0af\""));
    EXPECT_EQ(line_for_path("\xed\xa0\x80"), path_line("\"Encoded-Path\": \"eda080\""));
    EXPECT_EQ(line_for_path("\xf4\x90\x80\x80"), path_line("\"Encoded-Path\": \"f4908080\""));
    EXPECT_EQ(line_for_path("a\xe2\x82"), path_line("\"Encoded-Path\": \"61e282\""));
    EXPECT_EQ(line_for_path("\x80"), path_line("\"Encoded-Path\": \"80\""));
}

TEST(PgBackupManifest, FileWithoutChecksumHasNoChecksumFields)
{
    PgManifestFile f = file_entry("PG_VERSION");
    f.checksum.clear();
    EXPECT_EQ(
        file_line(f), "{ \"Path\": \"PG_VERSION\", \"Size\": 1, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\" }");
}

TEST(PgBackupManifest, FileWithCrc32cNamesItsAlgorithm)
{
    PgManifestFile f = file_entry("base/1/16384");
    f.checksum_algorithm = k_pg_checksum_crc32c;
    f.checksum = "839206e3";
    EXPECT_EQ(file_line(f),
        "{ \"Path\": \"base/1/16384\", \"Size\": 1, \"Last-Modified\": \"2023-11-14 22:13:20 GMT\", "
        "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"839206e3\" }");
}

TEST(PgBackupManifest, LastModifiedInGmt)
{
    PgManifestFile f = file_entry("f");
    f.mtime = 951782399;  // the second before 2000-02-29 00:00:00 UTC
    EXPECT_NE(file_line(f).find("\"Last-Modified\": \"2000-02-28 23:59:59 GMT\""), std::string::npos);
    f.mtime = 4102444800;  // 2100-01-01
    EXPECT_NE(file_line(f).find("\"Last-Modified\": \"2100-01-01 00:00:00 GMT\""), std::string::npos);
}

// ---- end to end with PostgreSQL's pg_verifybackup -----------------------------------------------------

struct RunResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

// pg_verifybackup -n -q DIR. Unlike the server it runs as root too, so it runs as whoever runs the tests.
RunResult run_pg_verifybackup(const std::string& dir)
{
    const std::string command = std::string(k_pg_verifybackup) + " -n -q '" + dir + "' 2>&1";
    RunResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr)
        return result;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
        result.output.append(buf, n);
    const int status = ::pclose(pipe);
    if (status != -1 && WIFEXITED(status))
        result.exit_code = WEXITSTATUS(status);
    return result;
}

class PgVerifybackupTest : public ::testing::Test {
protected:
    void add_file(const std::string& rel, const std::vector<uint8_t>& data)
    {
        std::filesystem::create_directories(std::filesystem::path(m_dir / rel).parent_path());
        test::write_file(m_dir / rel, data);
    }

    // The manifest entries for `rels`, from the files on disk.
    std::vector<PgManifestFile> entries(const std::vector<std::string>& rels)
    {
        std::vector<PgManifestFile> out;
        for (const std::string& rel : rels) {
            PgManifestFile f;
            f.path = rel;
            const Status s = sha256_file(m_dir / rel, f.checksum, f.size);
            EXPECT_TRUE(s.is_ok()) << s.message();
            struct stat st { };
            EXPECT_EQ(::stat((m_dir / rel).c_str(), &st), 0) << rel;
            f.mtime = st.st_mtime;
            out.push_back(f);
        }
        return out;
    }

    void write_manifest(const std::string& text) { test::write_file(m_dir / "backup_manifest", text); }

    TempDir m_dir;
};

TEST_F(PgVerifybackupTest, AcceptsManifestAndCatchesDamage)
{
    const std::vector<std::string> files = {"PG_VERSION", "global/pg_control", "base/1/1259", "base/1/1259_fsm",
        "base/1/empty", "pg_xact/0000", "q\"b\\s", "dir with space/tab\there", "bad\xff\xfename", "utf\xc3\xa9"};
    add_file("PG_VERSION", test::to_bytes("15\n"));
    add_file("global/pg_control", test::random_bytes(8192, 1));
    add_file("base/1/1259", test::random_bytes(16384, 2));
    add_file("base/1/1259_fsm", test::random_bytes(24576, 3));
    add_file("base/1/empty", {});
    add_file("pg_xact/0000", test::random_bytes(8192, 4));
    add_file("q\"b\\s", test::to_bytes("quote and backslash"));
    add_file("dir with space/tab\there", test::to_bytes("tab"));
    add_file("bad\xff\xfename", test::to_bytes("not UTF-8"));
    add_file("utf\xc3\xa9", test::to_bytes("UTF-8"));
    // What pg_verifybackup leaves out of its comparison: pg_wal, the signal files, postgresql.auto.conf.
    add_file("pg_wal/000000010000000000000001", test::random_bytes(100, 5));
    add_file("recovery.signal", {});
    add_file("postgresql.auto.conf", test::to_bytes("restore_command = 'walvault restore-wal %f %p'\n"));
    std::filesystem::create_directories(m_dir / "pg_tblspc");  // an empty directory needs no entry

    const std::string manifest = pg_backup_manifest(entries(files), {{1, 0x2000028, 0x2000100}});
    ASSERT_NE(manifest.find("\"Encoded-Path\": \"626164fffe6e616d65\""), std::string::npos);
    ASSERT_NE(manifest.find("\"Path\": \"q\\\"b\\\\s\""), std::string::npos);
    write_manifest(manifest);

    RunResult ok = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output, "");

    // One byte of one file flipped: same size, so only the checksum can tell.
    std::vector<uint8_t> data = test::read_file(m_dir / "base/1/1259");
    data[5000] ^= 0x01;
    test::write_file(m_dir / "base/1/1259", data);
    RunResult flipped = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(flipped.exit_code, 1) << flipped.output;
    EXPECT_EQ(flipped.output, "pg_verifybackup: error: checksum mismatch for file \"base/1/1259\"\n");
    data[5000] ^= 0x01;
    test::write_file(m_dir / "base/1/1259", data);

    // The same for the file whose name is JSON-escaped and the one whose name is hex-encoded.
    test::write_file(m_dir / "q\"b\\s", test::to_bytes("quote and backslasH"));
    test::write_file(m_dir / "bad\xff\xfename", test::to_bytes("not UTF-9"));
    RunResult named = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(named.exit_code, 1) << named.output;
    EXPECT_NE(named.output.find("checksum mismatch for file \"q\"b\\s\"\n"), std::string::npos) << named.output;
    EXPECT_NE(named.output.find("checksum mismatch for file \"bad\xff\xfename\"\n"), std::string::npos) << named.output;
    test::write_file(m_dir / "q\"b\\s", test::to_bytes("quote and backslash"));
    test::write_file(m_dir / "bad\xff\xfename", test::to_bytes("not UTF-8"));
    EXPECT_EQ(run_pg_verifybackup(m_dir.path()).exit_code, 0);

    // The Manifest-Checksum value changed.
    const std::string checksum_key = "\"Manifest-Checksum\": \"";
    const size_t digit = manifest.find(checksum_key) + checksum_key.size();
    std::string bad_checksum = manifest;
    bad_checksum[digit] = bad_checksum[digit] == '0' ? '1' : '0';
    write_manifest(bad_checksum);
    RunResult mismatch = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(mismatch.exit_code, 1) << mismatch.output;
    EXPECT_EQ(mismatch.output, "pg_verifybackup: error: manifest checksum mismatch\n");

    // A byte inside the covered text changed (a Last-Modified year, which nothing else checks).
    std::string bad_body = manifest;
    const size_t year = bad_body.find("\"Last-Modified\": \"") + std::string("\"Last-Modified\": \"").size();
    bad_body[year] = bad_body[year] == '1' ? '2' : '1';
    write_manifest(bad_body);
    RunResult body = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(body.exit_code, 1) << body.output;
    EXPECT_EQ(body.output, "pg_verifybackup: error: manifest checksum mismatch\n");
}

// Files whose CRC-32C was combined from parts, as restore gives files stored in parts, beside SHA-256 ones.
TEST_F(PgVerifybackupTest, AcceptsCrc32cCombinedFromParts)
{
    ASSERT_TRUE(crc32c_available()) << "this x86-64 machine has SSE4.2";
    const std::vector<uint8_t> big = test::random_bytes(3 * 65536 + 1234, 7);
    add_file("base/1/16384", big);
    add_file("PG_VERSION", test::to_bytes("15\n"));
    std::vector<PgManifestFile> files = entries({"PG_VERSION", "base/1/16384"});
    // Three parts, checksummed separately (the middle one in two calls) and combined in file order.
    const size_t cut[] = {0, 65536, 3 * 65536, big.size()};
    uint32_t whole = 0;
    for (size_t i = 0; i < 3; i++) {
        const size_t len = cut[i + 1] - cut[i];
        uint32_t part = crc32c_extend(0, big.data() + cut[i], len / 2);
        part = crc32c_extend(part, big.data() + cut[i] + len / 2, len - len / 2);
        whole = i == 0 ? part : crc32c_concat(whole, part, len);
    }
    EXPECT_EQ(whole, crc32c_extend(0, big.data(), big.size()));
    files[1].checksum_algorithm = k_pg_checksum_crc32c;
    files[1].checksum = crc32c_manifest_hex(whole);
    write_manifest(pg_backup_manifest(files, {{1, 0x2000028, 0x2000100}}));
    RunResult ok = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output, "");

    std::vector<uint8_t> damaged = big;
    damaged[70000] ^= 0x40;
    test::write_file(m_dir / "base/1/16384", damaged);
    RunResult flipped = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(flipped.exit_code, 1) << flipped.output;
    EXPECT_EQ(flipped.output, "pg_verifybackup: error: checksum mismatch for file \"base/1/16384\"\n");
}

TEST_F(PgVerifybackupTest, ReportsMissingAndExtraFiles)
{
    add_file("PG_VERSION", test::to_bytes("15\n"));
    add_file("base/1/1259", test::random_bytes(100, 6));
    write_manifest(pg_backup_manifest(entries({"PG_VERSION", "base/1/1259"}), {{1, 0x2000028, 0x2000100}}));
    EXPECT_EQ(run_pg_verifybackup(m_dir.path()).exit_code, 0);

    add_file("base/1/extra", test::to_bytes("x"));
    std::filesystem::remove(m_dir / "base/1/1259");
    RunResult r = run_pg_verifybackup(m_dir.path());
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(r.output,
        "pg_verifybackup: error: \"base/1/extra\" is present on disk but not in the manifest\n"
        "pg_verifybackup: error: \"base/1/1259\" is present in the manifest but not on disk\n");
}

}  // namespace
}  // namespace walvault
