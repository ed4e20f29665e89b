// The checks of `walvault verify` (tool/commands/verify.cpp runs them over a whole repository, in parallel):
// each object against its trailer, its name and what the repository says it must be (a manifest entry, a
// segment of this database system), and the repository as a whole: every backup's objects present with the
// stored size its manifest records, the WAL each backup needs present without a hole along every timeline
// its recovery can follow, timeline history files that agree with each other. Nothing here writes.
// docs/operations.md ("Verifying the repository") describes them for operators.
#pragma once

#include "core/codec/codec.h"
#include "core/common/status.h"
#include "core/repo/backup_manifest.h"
#include "core/storage/storage.h"
#include "core/wal/timeline_history.h"
#include "core/wal/wal_name.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace walvault {

struct VerifyProblem {
    std::string key;       // the object at fault (or that is missing), e.g. "wal/.../000000010000000000000005.zst"
    std::string problem;   // what is wrong, one line
    std::string expected;  // what it should have been; "" when there is nothing more to say
};

// What the checks below need to know of the repository's WAL, from a listing of wal/.
struct WalInventory {
    uint64_t segment_size = 0;
    std::map<uint32_t, std::vector<uint64_t>> segments;  // timeline -> segment numbers archived, ascending
    std::map<uint32_t, bool> partials;                   // timelines with a .partial object
    // The parsed history of every timeline whose .history object was read and parsed.
    std::map<uint32_t, std::vector<TimelineSwitch>> histories;
    std::vector<uint32_t> history_objects;  // timelines with a .history object, whether or not it parsed
};

// Segments and partials of a listing of wal/ (keys that are not WAL objects are left out).
WalInventory inventory_wal(const std::vector<ObjectInfo>& wal, uint64_t segment_size);

// Where a backup's recovery reads WAL: its own timeline from its start segment, and every timeline whose
// history leaves the backup's timeline at or after its start (a recovery can follow any of them), from the
// segment holding its switch point. Timelines in ascending order.
struct LineageTimeline {
    uint32_t timeline = 0;
    uint64_t first_segno = 0;
};
std::vector<LineageTimeline> backup_lineage(const BackupManifest& manifest, const WalInventory& wal);

// A complete backup whose WAL continuity is checked.
struct LineageCheck {
    const BackupManifest* manifest = nullptr;
    // Pinned as a standalone copy (backup-pin --standalone): it needs only its own WAL, start to stop, and
    // expire keeps no more of it than that.
    bool standalone = false;
};

// WAL continuity of the backups: on each timeline of a backup's lineage, every segment from where the
// lineage enters it to the newest archived segment of that timeline, and on the backup's own timeline at
// least to its stop segment (a standalone backup: its start to its stop segment only). A hole shared by
// several backups is one problem naming them all.
void check_lineages(const std::vector<LineageCheck>& backups, const WalInventory& wal, std::vector<VerifyProblem>& out);

// The timeline history files together: a timeline above 1 that has WAL but no history file (recovery cannot
// follow it), a history whose parent timeline has no history file, a history that does not begin with its
// parent's (two histories that disagree on the past).
void check_history_chain(const WalInventory& wal, std::vector<VerifyProblem>& out);

// A backup's objects as listed (every key under backup/<label>/, sorted) against its manifest: each file (or
// part) object present with the stored size the manifest records. Objects under data/ that the manifest
// does not name are notices, not problems (they take space; restore never reads them).
void check_backup_listing(const BackupManifest& manifest, const std::vector<ObjectInfo>& objects,
    std::vector<VerifyProblem>& problems, std::vector<std::string>& notices);

// One object to read whole and check.
struct ObjectCheck {
    std::string key;
    uint64_t stored_size = 0;  // as listed
    std::string name;          // the name its trailer must record: the WAL file name, or the file's path
    uint64_t length = 0;       // original bytes it must hold (for a WAL segment: the segment size)
    bool exact_length = true;  // false: at most length (a .partial, a .history or .backup file: any length)
    std::string sha256;        // hex, the manifest's; "" when there is none to compare (WAL)
    // For a segment or partial: the first page header must be this segment's of this system.
    const WalName* wal_name = nullptr;
    uint64_t system_identifier = 0;
    uint64_t segment_size = 0;
    bool keep_content = false;  // a .history file: its content goes to content
};

// Decodes the object with decoder (ContentCheck::xxh3: the codec's own checksums and the trailer's XXH3-128;
// the trailer's sha256 against the manifest's), and checks name, length and, for WAL, the page header.
// Every way it fails is a problem (a read error too: the object could not be verified); content gets the
// original bytes when keep_content is set.
void verify_object(Decoder& decoder, Storage& storage, const ObjectCheck& check, std::vector<VerifyProblem>& out,
    std::string* content = nullptr);

}  // namespace walvault
