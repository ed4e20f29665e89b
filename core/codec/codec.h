// The object codec: a chain of stages over one pass of the bytes, and its inverse.
//   write: hash (sha256 + xxh3 of the original) -> compress (zstd frames, then the trailer) -> [stage] -> sink
//   read:  [stage] -> decompress (zstd frames, then the trailer) -> content check -> sink
// With zstd, data goes in frames of k_frame_bytes; a frame whose sample does not compress is stored as raw
// blocks instead, so incompressible WAL costs no compression work.
// Every stored object without a stage is a valid zstd stream that stock `zstd -d` restores, followed by a zstd
// skippable frame carrying JSON metadata (format, name, original length, sha256, xxh3_128, compression) that
// `zstd -d` skips. The optional stage (a cipher: core/codec/byte_stage.h) transforms that whole stream.
// Layout details: docs/repository-format.md.
#pragma once

#include "core/codec/byte_stage.h"
#include "core/codec/sha256.h"
#include "core/codec/xxh3.h"
#include "core/common/byte_sink.h"
#include "core/common/status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

// The built-in stages (codec.cpp), kept out of this header with zstd and XXH3.
class ContentHash;
class FrameCompressor;
class FrameDecompressor;

constexpr int k_object_format = 1;               // "format" in the trailer; bump on incompatible change
constexpr const char* k_object_suffix = ".zst";  // every object is a zstd stream, whatever the compression
constexpr size_t k_max_trailer_bytes = 4096;     // the metadata frame is never larger
constexpr size_t k_frame_bytes = 1024UL * 1024;  // original bytes per data frame (zstd): backups, the tool
// The archive module's frames. A file in flight holds one frame of input and one of output, and the archiver
// has up to 16 in flight: 512 KiB frames keep its peak under 64 MiB on S3 (72 -> 56 MiB). They cost 1.4 %
// more stored bytes on bulk-load WAL and, measured on backups, ~8 % more encoding time and more decoding
// CPU, so backups keep 1 MiB frames (docs/benchmarks.md, "512 KiB frames for WAL, 1 MiB for backups").
constexpr size_t k_wal_frame_bytes = 512UL * 1024;
constexpr size_t k_probe_bytes = 16UL * 1024;           // sample of a frame compressed at level 1 first
constexpr int k_low_saving_level = -1;                  // zstd level of frames whose sample barely compresses
constexpr uint32_t k_trailer_frame_magic = 0x184D2A57;  // a zstd skippable-frame magic (0x184D2A5?)
constexpr const char k_trailer_footer_magic[4] = {'W', 'V', 'M', 'T'};

// Codec name and parameters in one table.
struct CodecInfo {
    const char* name;
    int default_level;
    int min_level;
    int max_level;
};
constexpr CodecInfo k_codecs[] = {
    {"none", 0, 0, 0},   // stored zstd raw blocks: no compression work, still a zstd stream
    {"zstd", 3, 1, 19},  // 3 is zstd's own default: ~4x on typical WAL at several hundred MB/s per core
};

struct Compression {
    enum class Kind { none, zstd } kind = Kind::zstd;
    int level = 3;

    // "none", "zstd", "zstd:LEVEL"; nullopt with a message in *error otherwise.
    static std::optional<Compression> parse(std::string_view text, std::string* error);
    std::string to_string() const;  // canonical: "none" or "zstd:3"
    bool operator==(const Compression&) const = default;
};

// What the trailer of an object records.
struct ObjectMeta {
    int format = k_object_format;
    std::string name;         // the WAL file or backup file name the object holds
    uint64_t length = 0;      // original bytes
    std::string sha256;       // hex sha256 of the original bytes
    std::string xxh3_128;     // hex XXH3-128 of the original bytes; empty in objects written before it was added
    std::string compression;  // Compression::to_string()
};

std::vector<uint8_t> encode_trailer(const ObjectMeta& meta);
// Parses the trailer at the very end of tail (the last bytes of an object). xxh3_128 is optional (objects
// written before walvault recorded it have none); the other fields are required.
Status parse_trailer(const uint8_t* tail, size_t len, ObjectMeta& out);

struct EncodeResult {
    uint64_t bytes_in = 0;   // original
    uint64_t bytes_out = 0;  // stored, trailer included
    std::string sha256;      // of the original
    std::string xxh3_128;    // of the original
};

// Streaming encoder; keep one per thread and reuse it (its zstd context and buffers are large).
// frame_bytes: original bytes per zstd data frame (k_frame_bytes, or k_wal_frame_bytes in the archiver).
// update() hashes the original and compresses it; finish() appends the trailer. The compressed stream goes
// to the stage if one is set, and from there (or directly) to the sink given to begin().
class Encoder {
public:
    explicit Encoder(size_t frame_bytes = k_frame_bytes);
    ~Encoder();
    Encoder(const Encoder&) = delete;
    Encoder& operator=(const Encoder&) = delete;

    // The stage between the compressor and the sink for the objects begun from now on; nullptr (the
    // default): none. Not owned: it must outlive them.
    void set_stage(ByteStage* stage) { m_stage = stage; }
    ByteStage* stage() const { return m_stage; }

    // Starts an object. pledged_size is accepted for callers that know it; frames record their own sizes.
    Status begin(const Compression& compression, const ByteSink& out, std::optional<uint64_t> pledged_size);
    Status update(const uint8_t* data, size_t len);
    // Ends the data frames, appends the trailer for name and ends the stage's output.
    Status finish(const std::string& name, EncodeResult& result);

private:
    std::unique_ptr<ContentHash> m_hash;
    std::unique_ptr<FrameCompressor> m_compressor;
    ByteStage* m_stage = nullptr;   // set_stage()
    ByteStage* m_active = nullptr;  // the stage of the object in progress
    ByteSink m_sink;                // begin()'s out
    ByteSink m_to_stage;            // the compressor's output when there is a stage: into m_active
    ByteSink m_counted;             // m_active's output: counted, then into m_sink
    uint64_t m_stored = 0;          // bytes m_active passed to m_sink
};

// Encodes the first `len` bytes of a buffer that grows (walvault receive: the segment in progress, written as
// a new object each time it has grown), without compressing again what it compressed for an earlier call:
// the complete frames of the part seen before are kept with the hash states at their end, and only the bytes
// after them are compressed and hashed. The object is the same format as the Encoder's (the same frames,
// the same trailer), so every reader reads it; no stage (cipher), which would have to begin again each time.
// A call for another `buffer` (the segment's name), a shorter `len` or other compression starts over; so does
// reset(). The caller guarantees that, between two starts, `data` begins with the bytes given before.
class PrefixEncoder {
public:
    explicit PrefixEncoder(size_t frame_bytes = k_wal_frame_bytes);
    ~PrefixEncoder();
    PrefixEncoder(const PrefixEncoder&) = delete;
    PrefixEncoder& operator=(const PrefixEncoder&) = delete;

    void reset();
    // The whole object for data[0, len) of `buffer`, with `name` in its trailer, in `object` (replaced).
    Status encode(const Compression& compression, const std::string& buffer, const std::string& name,
        const uint8_t* data, size_t len, std::vector<uint8_t>& object, EncodeResult& result);

private:
    size_t m_frame_bytes;
    std::unique_ptr<FrameCompressor> m_compressor;
    std::unique_ptr<Sha256> m_sha256;      // of data[0, m_covered)
    std::unique_ptr<Xxh3Hash> m_xxh3;      // of data[0, m_covered)
    std::unique_ptr<Sha256> m_sha256_end;  // m_sha256 continued over the rest, for one call
    std::unique_ptr<Xxh3Hash> m_xxh3_end;
    std::vector<uint8_t> m_frames;  // the complete frames of data[0, m_covered)
    uint64_t m_covered = 0;
    std::string m_buffer;
    Compression m_compression;
};

// Encodes a whole file in one pass: read -> encoder (hash -> compress -> [stage]) -> out.
Status encode_file(Encoder& encoder, const Compression& compression, const std::string& path, const std::string& name,
    const ByteSink& out, EncodeResult& result);

// How a decoder checks the original bytes against the trailer (besides the zstd frames' own checksums).
enum class ContentCheck {
    // The sha256, and the xxh3_128 too where the trailer records it: for checks whose point is the check.
    sha256,
    // The xxh3_128 alone, ~20 times cheaper (~0.9 ms per 16 MiB here against ~10 ms): for readers that serve or
    // restore the bytes. As strong against damage as the sha256; neither is a defence against someone who can
    // rewrite the object, trailer included. An object without xxh3_128 (written by an older walvault) cannot
    // be checked this way: finish() then fails with needs_sha256() set, and the caller decodes it again.
    xxh3,
};

// Streaming decoder: stored bytes in, original bytes out; finish() checks the stage's end, that the zstd frame
// ended, the trailer is present and the original length and the checksums of the chosen ContentCheck match it.
class Decoder {
public:
    Decoder();
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // The stage that the stored bytes pass first, before the decompressor (the inverse of the Encoder's), for
    // the objects begun from now on; nullptr (the default): none. Not owned: it must outlive them.
    void set_stage(ByteStage* stage) { m_stage = stage; }

    void begin(const ByteSink& out, ContentCheck check = ContentCheck::sha256);
    Status update(const uint8_t* data, size_t len);
    Status finish(ObjectMeta& meta);
    // After a failed finish() under ContentCheck::xxh3: the trailer records no xxh3_128, nothing was checked.
    bool needs_sha256() const { return m_needs_sha256; }

private:
    std::unique_ptr<FrameDecompressor> m_decompressor;
    std::unique_ptr<ContentHash> m_hash;
    ByteStage* m_stage = nullptr;   // set_stage()
    ByteStage* m_active = nullptr;  // the stage of the object in progress
    ByteSink m_sink;                // begin()'s out
    ByteSink m_to_decompressor;     // m_active's output: into m_decompressor
    ByteSink m_checked;             // m_decompressor's output: hashed, counted, then into m_sink
    ContentCheck m_check = ContentCheck::sha256;
    uint64_t m_length = 0;
    bool m_needs_sha256 = false;
};

}  // namespace walvault
