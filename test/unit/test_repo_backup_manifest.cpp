// Unit tests for core/repo/backup_manifest: the JSON round trip (files in one object and in parts, formats 1
// and 2), what a damaged manifest reports, labels and object keys.
#include "core/repo/backup_manifest.h"

#include "test/unit/test_support.h"

#include <nlohmann/json.hpp>

namespace walvault {
namespace {

BackupManifest sample()
{
    BackupManifest m;
    m.label = "20261123T101500Z";
    m.start_time = "2026-11-23T10:15:00Z";
    m.stop_time = "2026-11-23T10:16:02Z";
    m.start_lsn = 0x2000028;
    m.stop_lsn = 0x16B374D848ULL;
    m.timeline = 3;
    m.stop_next_xid = 4294967301ULL;  // beyond 32 bits: epoch 1
    m.pg_version_num = 150020;
    m.system_identifier = 7312345678901234567ULL;  // above 2^53
    m.wal_segment_size = 16777216;
    m.compression = "zstd:3";
    m.backup_label = "START WAL LOCATION: 0/2000028 (file 000000030000000000000002)\nSTART TIMELINE: 3\n";
    m.tablespaces = {{16385, "fast", "/srv/fast"}};
    m.directories = {{"base", 0700}, {"pg_wal", 0700}};
    m.files = {{"PG_VERSION", 3, 1790000000, 0600, std::string(64, 'a'), 40, {}},
        {"base/1/1259", 8192 * 10, 1790000001, 0640, std::string(64, 'b'), 900, {}}};
    return m;
}

TEST(BackupManifest, RoundTripKeepsEveryField)
{
    const BackupManifest m = sample();
    BackupManifest back;
    WV_ASSERT_OK(manifest_from_json(manifest_to_json(m), back));
    EXPECT_EQ(back.label, m.label);
    EXPECT_EQ(back.start_time, m.start_time);
    EXPECT_EQ(back.stop_time, m.stop_time);
    EXPECT_EQ(back.start_lsn, m.start_lsn);
    EXPECT_EQ(back.stop_lsn, m.stop_lsn);
    EXPECT_EQ(back.timeline, 3u);
    EXPECT_EQ(back.stop_next_xid, 4294967301ULL);
    EXPECT_EQ(back.pg_version_num, 150020);
    EXPECT_EQ(back.system_identifier, 7312345678901234567ULL);
    EXPECT_EQ(back.wal_segment_size, 16777216u);
    EXPECT_EQ(back.compression, "zstd:3");
    EXPECT_EQ(back.backup_label, m.backup_label);
    ASSERT_EQ(back.tablespaces.size(), 1u);
    EXPECT_EQ(back.tablespaces[0].oid, 16385u);
    EXPECT_EQ(back.tablespaces[0].location, "/srv/fast");
    ASSERT_EQ(back.directories.size(), 2u);
    EXPECT_EQ(back.directories[1].path, "pg_wal");
    ASSERT_EQ(back.files.size(), 2u);
    EXPECT_EQ(back.files[1].path, "base/1/1259");
    EXPECT_EQ(back.files[1].size, 81920u);
    EXPECT_EQ(back.files[1].mode, 0640u);
    EXPECT_EQ(back.files[1].mtime, 1790000001);
    EXPECT_EQ(back.files[1].stored_size, 900u);
    EXPECT_EQ(back.original_size(), 81923u);
    EXPECT_EQ(back.stored_size(), 940u);
}

TEST(BackupManifest, ReadableByOtherToolsWithoutPrecisionLoss)
{
    const auto j = nlohmann::json::parse(manifest_to_json(sample()));
    EXPECT_EQ(j["system_identifier"], "7312345678901234567");
    EXPECT_EQ(j["start_lsn"], "0/2000028");
    EXPECT_EQ(j["stop_lsn"], "16/B374D848");
    EXPECT_EQ(j["format"], k_backup_manifest_format);
    EXPECT_EQ(j["original_size"], 81923);
}

TEST(BackupManifest, DamageIsReportedByField)
{
    const struct {
        const char* what;
        std::function<void(nlohmann::json&)> damage;
        const char* message;
    } cases[] = {
        {"missing label", [](nlohmann::json& j) { j.erase("label"); }, "missing field \"label\""},
        {"bad lsn", [](nlohmann::json& j) { j["stop_lsn"] = "XYZ"; }, "\"stop_lsn\" is not an LSN"},
        {"wrong type", [](nlohmann::json& j) { j["timeline"] = "three"; }, "\"timeline\" has the wrong type"},
        {"bad sysid", [](nlohmann::json& j) { j["system_identifier"] = "-1"; }, "not a decimal number"},
        {"file without sha", [](nlohmann::json& j) { j["files"][0].erase("sha256"); }, "missing field \"sha256\""},
        {"escaping path", [](nlohmann::json& j) { j["files"][0]["path"] = "../etc/passwd"; }, "not a relative path"},
        {"absolute path", [](nlohmann::json& j) { j["files"][0]["path"] = "/etc/passwd"; }, "not a relative path"},
        {"files not array", [](nlohmann::json& j) { j["files"] = 1; }, "must be arrays"},
    };
    for (const auto& c : cases) {
        auto j = nlohmann::json::parse(manifest_to_json(sample()));
        c.damage(j);
        BackupManifest back;
        const Status s = manifest_from_json(j.dump(), back);
        EXPECT_EQ(s.code(), Code::corrupt) << c.what;
        EXPECT_NE(s.message().find(c.message), std::string::npos) << c.what << ": " << s.message();
    }
    BackupManifest back;
    EXPECT_EQ(manifest_from_json("{\"format\": 1", back).code(), Code::corrupt);
}

TEST(BackupManifest, ReadsFormatsOneAndTwoOnly)
{
    // A format 1 manifest (walvault before parts) is the same document without parts.
    auto j = nlohmann::json::parse(manifest_to_json(sample()));
    EXPECT_EQ(j["format"], 2);
    j["format"] = 1;
    BackupManifest back;
    WV_ASSERT_OK(manifest_from_json(j.dump(), back));
    EXPECT_EQ(back.format, 1);
    ASSERT_EQ(back.files.size(), 2u);
    EXPECT_EQ(back.files[0].sha256, std::string(64, 'a'));
    EXPECT_TRUE(back.files[0].parts.empty());
    for (const int format : {0, 3}) {
        j["format"] = format;
        const Status s = manifest_from_json(j.dump(), back);
        EXPECT_EQ(s.code(), Code::corrupt) << format;
        EXPECT_EQ(s.message(),
            "backup manifest has format " + std::to_string(format) + ", this walvault reads formats 1 to 2");
    }
}

// base/5/16384 of 3.5 MiB in 1 MiB parts, the second read short (the file was truncated while it was read).
BackupFile parted_file()
{
    BackupFile f;
    f.path = "base/5/16384";
    f.size = 3670016;
    f.mtime = 1790000002;
    f.mode = 0600;
    f.parts = {{0, 1048576, std::string(64, 'c'), 5000}, {1048576, 4096, std::string(64, 'd'), 300},
        {2097152, 1048576, std::string(64, 'e'), 6000}, {3145728, 524288, std::string(64, 'f'), 2000}};
    return f;
}

TEST(BackupManifest, FileInPartsRoundTrip)
{
    BackupManifest m = sample();
    m.files.push_back(parted_file());
    const std::string text = manifest_to_json(m);
    const auto j = nlohmann::json::parse(text);
    const auto& jf = j["files"][2];
    EXPECT_FALSE(jf.contains("sha256")) << jf.dump();
    EXPECT_FALSE(jf.contains("stored_size")) << jf.dump();
    ASSERT_EQ(jf["parts"].size(), 4u);
    EXPECT_EQ(jf["parts"][1],
        nlohmann::json::parse("{\"offset\": 1048576, \"size\": 4096, \"sha256\": \"" + std::string(64, 'd') +
            "\", \"stored_size\": 300}"));
    EXPECT_FALSE(j["files"][0].contains("parts"));
    EXPECT_EQ(j["stored_size"], 40 + 900 + 5000 + 300 + 6000 + 2000);

    BackupManifest back;
    WV_ASSERT_OK(manifest_from_json(text, back));
    EXPECT_EQ(back.format, 2);
    ASSERT_EQ(back.files.size(), 3u);
    const BackupFile& f = back.files[2];
    EXPECT_EQ(f.path, "base/5/16384");
    EXPECT_EQ(f.size, 3670016u);
    EXPECT_EQ(f.sha256, "");
    EXPECT_EQ(f.stored_size, 13300u);
    ASSERT_EQ(f.parts.size(), 4u);
    for (size_t i = 0; i < 4; i++) {
        EXPECT_EQ(f.parts[i].offset, parted_file().parts[i].offset) << i;
        EXPECT_EQ(f.parts[i].size, parted_file().parts[i].size) << i;
        EXPECT_EQ(f.parts[i].sha256, parted_file().parts[i].sha256) << i;
        EXPECT_EQ(f.parts[i].stored_size, parted_file().parts[i].stored_size) << i;
    }
    EXPECT_TRUE(back.files[1].parts.empty());
    EXPECT_EQ(back.original_size(), 3 + 81920 + 3670016u);
    EXPECT_EQ(back.stored_size(), 14240u);
}

// The fast checksums restore --delta compares with (xxh3_128, and chunk_xxh3 per MiB) round trip for files
// and parts; a manifest without them (an older backup) reads with them empty, and a chunk list of the wrong
// length is refused.
TEST(BackupManifest, FastChecksumsAreOptional)
{
    BackupManifest m = sample();
    m.files[1].xxh3_128 = std::string(32, '1');
    m.files.push_back(parted_file());
    m.files[2].parts[0].xxh3_128 = std::string(32, '2');
    m.files[2].parts[3].chunk_xxh3 = {std::string(32, '3')};  // 512 kiB: one chunk
    BackupFile big = sample().files[1];
    big.path = "base/1/1260";
    big.size = 2 * k_delta_chunk_bytes + 1;
    big.chunk_xxh3 = {"a", "b", "c"};
    m.files.push_back(big);
    const std::string text = manifest_to_json(m);
    BackupManifest back;
    WV_ASSERT_OK(manifest_from_json(text, back));
    EXPECT_EQ(back.format, 2);  // older readers ignore the new fields: no new format
    EXPECT_EQ(back.files[0].xxh3_128, "");
    EXPECT_TRUE(back.files[0].chunk_xxh3.empty());
    EXPECT_EQ(back.files[1].xxh3_128, std::string(32, '1'));
    EXPECT_EQ(back.files[2].parts[0].xxh3_128, std::string(32, '2'));
    EXPECT_EQ(back.files[2].parts[3].chunk_xxh3, std::vector<std::string>{std::string(32, '3')});
    EXPECT_EQ(back.files[3].chunk_xxh3, (std::vector<std::string>{"a", "b", "c"}));
    const auto j = nlohmann::json::parse(text);
    EXPECT_FALSE(j["files"][0].contains("xxh3_128"));
    EXPECT_FALSE(j["files"][0].contains("chunk_xxh3"));

    auto damaged = j;
    damaged["files"][3]["chunk_xxh3"] = {"a", "b"};
    Status s = manifest_from_json(damaged.dump(), back);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "backup manifest is damaged: file \"base/1/1260\": \"chunk_xxh3\" has 2 entries for 2097153 bytes");
    damaged = j;
    damaged["files"][2]["parts"][0]["xxh3_128"] = 5;
    s = manifest_from_json(damaged.dump(), back);
    EXPECT_EQ(s.message(),
        "backup manifest is damaged: part 0 of file \"base/5/16384\": field \"xxh3_128\" has the "
        "wrong type");
}

TEST(BackupManifest, DamagedPartsAreReportedByPartAndField)
{
    const struct {
        const char* what;
        std::function<void(nlohmann::json&)> damage;
        const char* message;
    } cases[] = {
        {"missing offset", [](nlohmann::json& p) { p[1].erase("offset"); },
            "part 1 of file \"base/5/16384\": missing field \"offset\""},
        {"missing sha256", [](nlohmann::json& p) { p[3].erase("sha256"); },
            "part 3 of file \"base/5/16384\": missing field \"sha256\""},
        {"mistyped size", [](nlohmann::json& p) { p[0]["size"] = "big"; },
            "part 0 of file \"base/5/16384\": field \"size\" has the wrong type"},
        {"mistyped stored_size", [](nlohmann::json& p) { p[2]["stored_size"] = "many"; },
            "part 2 of file \"base/5/16384\": field \"stored_size\" has the wrong type"},
        {"overlap", [](nlohmann::json& p) { p[2]["offset"] = 1000000; },
            "part 2 of file \"base/5/16384\" at offset 1000000 overlaps the part before it or is out of order"},
        {"first not at 0", [](nlohmann::json& p) { p[0]["offset"] = 1; },
            "part 0 of file \"base/5/16384\" at offset 1 overlaps"},
        {"size not the end", [](nlohmann::json& p) { p[3]["size"] = 1; },
            "file \"base/5/16384\" has size 3670016 but its parts end at 3145729"},
        {"empty part extends the file",
            [](nlohmann::json& p) {
                p.push_back({{"offset", 4194304}, {"size", 0}, {"sha256", std::string(64, '0')}, {"stored_size", 20}});
                p[3]["size"] = 0;
            },
            "file \"base/5/16384\" has size 3670016 but its parts end at 3145728"},
        {"empty", [](nlohmann::json& p) { p = nlohmann::json::array(); },
            "\"parts\" of file \"base/5/16384\" must be a non-empty array"},
        {"not an array", [](nlohmann::json& p) { p = 4; },
            "\"parts\" of file \"base/5/16384\" must be a non-empty array"},
    };
    BackupManifest m = sample();
    m.files.push_back(parted_file());
    for (const auto& c : cases) {
        auto j = nlohmann::json::parse(manifest_to_json(m));
        c.damage(j["files"][2]["parts"]);
        BackupManifest back;
        const Status s = manifest_from_json(j.dump(), back);
        EXPECT_EQ(s.code(), Code::corrupt) << c.what;
        EXPECT_NE(s.message().find(std::string("backup manifest is damaged: ") + c.message), std::string::npos)
            << c.what << ": " << s.message();
    }
}

TEST(BackupManifest, Labels)
{
    WV_EXPECT_OK(check_backup_label("20261123T101500Z"));
    WV_EXPECT_OK(check_backup_label("before-upgrade_2.1"));
    WV_EXPECT_OK(check_backup_label(std::string(64, 'x')));
    for (const std::string& bad :
        std::vector<std::string>{"", "LATEST", ".hidden", "-x", "a/b", "a b", "ü", std::string(65, 'x')})
        EXPECT_EQ(check_backup_label(bad).code(), Code::invalid) << bad;
    EXPECT_EQ(default_backup_label(0), "19700101T000000Z");
    EXPECT_EQ(default_backup_label(1795428900), "20261123T101500Z");
}

}  // namespace
}  // namespace walvault
