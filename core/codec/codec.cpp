// Object codec. zstd frames carry their own XXH64 content checksum (so `zstd -d` alone detects damage);
// the trailer adds what zstd cannot: the file's name, and checksums of the whole original (a sha256 that
// matches `sha256sum`, and an XXH3-128 that matches `xxhsum -H2`, which readers on recovery's path check). "none"
// writes zstd raw blocks (RFC 8878 section 3.1.1.2) because libzstd has no store mode.
#include "core/codec/codec.h"

#include "core/codec/xxh3.h"
#include "core/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <nlohmann/json.hpp>
#include <zstd.h>

namespace walvault {
namespace {

constexpr size_t k_read_chunk = 256UL * 1024;            // bytes read from a file per step
constexpr size_t k_raw_block_max = 128UL * 1024;         // zstd Block_Maximum_Size
constexpr uint32_t k_zstd_frame_magic = 0xFD2FB528;      // RFC 8878
constexpr uint8_t k_raw_frame_header_descriptor = 0x00;  // no content size, no checksum, no dictionary
constexpr uint8_t k_raw_window_descriptor = 7 << 3;      // window 2^(10+7) = 128 KiB
constexpr size_t k_footer_bytes = 8;                     // LE32 frame size + "WVMT"
// A frame whose k_probe_bytes sample saves less than 1/32 at level 1 is stored raw: zstd would spend
// ~100 ms per 16 MiB finding out what the sample says in ~0.1 ms.
constexpr size_t k_probe_min_saving_divisor = 32;
// A frame whose sample saves less than 1/8 is compressed at k_low_saving_level whatever the configured
// level: on such data higher levels find next to nothing more and take several times as long. Measured on a
// segment of random-bytea WAL (x1.047, `zstd -b -B512K`): level 3 at 390 MB/s for 0.2 % fewer bytes than
// level 1 at 800 MB/s; level -1 (`--fast=1`) at 1340 MB/s gives the same bytes as level 1 (x1.047).
constexpr size_t k_probe_low_saving_divisor = 8;

void put_le32(std::vector<uint8_t>& out, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t get_le32(const uint8_t* p)
{
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
        static_cast<uint32_t>(p[3]) << 24;
}

// libzstd's error text in our message style ("Restored data doesn't match checksum" -> "restored ...").
std::string zstd_error_text(size_t code)
{
    std::string text = ZSTD_getErrorName(code);
    if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || !(text[1] >= 'A' && text[1] <= 'Z')))
        text[0] = static_cast<char>(text[0] - 'A' + 'a');
    return text;
}

Status zstd_error(const char* what, size_t code)
{
    return Status::error(Code::io_error, std::string(what) + ": " + zstd_error_text(code));
}

}  // namespace

std::optional<Compression> Compression::parse(std::string_view text, std::string* error)
{
    const size_t colon = text.find(':');
    const std::string_view name = text.substr(0, colon);
    for (const CodecInfo& codec : k_codecs) {
        if (name != codec.name)
            continue;
        Compression c;
        c.kind = std::string_view(codec.name) == "none" ? Kind::none : Kind::zstd;
        c.level = codec.default_level;
        if (colon != std::string_view::npos) {
            const std::string_view level = text.substr(colon + 1);
            int v = 0;
            auto [end, ec] = std::from_chars(level.data(), level.data() + level.size(), v);
            if (ec != std::errc() || end != level.data() + level.size() || level.empty() || v < codec.min_level ||
                v > codec.max_level || c.kind == Kind::none) {
                if (error)
                    *error = c.kind == Kind::none ? "\"none\" takes no level"
                                                  : "zstd level must be between " + std::to_string(codec.min_level) +
                            " and " + std::to_string(codec.max_level);
                return std::nullopt;
            }
            c.level = v;
        }
        return c;
    }
    if (error)
        *error =
            "unknown compression \"" + std::string(name) + "\"; valid values are \"none\", \"zstd\" and \"zstd:LEVEL\"";
    return std::nullopt;
}

std::string Compression::to_string() const
{
    return kind == Kind::none ? std::string("none") : "zstd:" + std::to_string(level);
}

std::vector<uint8_t> encode_trailer(const ObjectMeta& meta)
{
    nlohmann::ordered_json j;
    j["format"] = meta.format;
    j["name"] = meta.name;
    j["length"] = meta.length;
    j["sha256"] = meta.sha256;
    if (!meta.xxh3_128.empty())
        j["xxh3_128"] = meta.xxh3_128;
    j["compression"] = meta.compression;
    const std::string text = j.dump();
    const uint32_t content = static_cast<uint32_t>(text.size() + k_footer_bytes);
    std::vector<uint8_t> out;
    out.reserve(8 + content);
    put_le32(out, k_trailer_frame_magic);
    put_le32(out, content);
    out.insert(out.end(), text.begin(), text.end());
    put_le32(out, content + 8);
    out.insert(out.end(), std::begin(k_trailer_footer_magic), std::end(k_trailer_footer_magic));
    return out;
}

Status parse_trailer(const uint8_t* tail, size_t len, ObjectMeta& out)
{
    auto bad = [](const std::string& why) {
        return Status::error(Code::corrupt, "object has no valid metadata trailer: " + why);
    };
    if (len < k_footer_bytes + 8)
        return bad("object too short");
    const uint8_t* footer = tail + len - k_footer_bytes;
    if (std::memcmp(footer + 4, k_trailer_footer_magic, 4) != 0)
        return bad("footer magic missing");
    const uint32_t frame = get_le32(footer);
    if (frame > len || frame > k_max_trailer_bytes || frame < 8 + k_footer_bytes)
        return bad("frame size out of range");
    const uint8_t* start = tail + len - frame;
    if (get_le32(start) != k_trailer_frame_magic || get_le32(start + 4) != frame - 8)
        return bad("frame header mismatch");
    const auto j = nlohmann::json::parse(start + 8, start + frame - k_footer_bytes, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return bad("metadata is not JSON");
    const auto format = j.find("format");
    const auto name = j.find("name");
    const auto length = j.find("length");
    const auto sha = j.find("sha256");
    const auto compression = j.find("compression");
    if (format == j.end() || !format->is_number_integer() || name == j.end() || !name->is_string() ||
        length == j.end() || !length->is_number_unsigned() || sha == j.end() || !sha->is_string() ||
        compression == j.end() || !compression->is_string())
        return bad("metadata fields missing");
    if (format->get<int>() > k_object_format)
        return Status::error(Code::invalid,
            "object format " + std::to_string(format->get<int>()) + " is newer than this walvault understands (" +
                std::to_string(k_object_format) + ")",
            "Upgrade walvault.");
    out.format = format->get<int>();
    out.name = name->get<std::string>();
    out.length = length->get<uint64_t>();
    const auto xxh3 = j.find("xxh3_128");
    if (xxh3 != j.end() && !xxh3->is_string())
        return bad("metadata fields missing");
    out.sha256 = sha->get<std::string>();
    out.xxh3_128 = xxh3 != j.end() ? xxh3->get<std::string>() : std::string();
    out.compression = compression->get<std::string>();
    return Status::ok();
}

// ---- The built-in stages ----------------------------------------------------------------------------------
// Write: ContentHash -> FrameCompressor -> [ByteStage] -> sink. Read: [ByteStage] -> FrameDecompressor ->
// ContentHash -> sink. Each passes whole chunks on, by one call per chunk; none copies bytes it does not
// change (the compressor gathers a frame of input, as it must, and the decompressor fills its output buffer).

// The hash stage: sha256 and XXH3-128 of the original bytes as they pass.
class ContentHash {
public:
    // The sha256 only when asked for: the tool opens libcrypto when a Sha256 is made (tool/lazy_libs.cpp),
    // and wal-fetch, which checks the xxh3_128, then never opens it.
    void begin(bool with_sha256)
    {
        m_sha256 = with_sha256 ? std::make_unique<Sha256>() : nullptr;
        m_xxh3 = std::make_unique<Xxh3Hash>();
    }
    void update(const uint8_t* data, size_t len)
    {
        if (m_sha256)
            m_sha256->update(data, len);
        m_xxh3->update(data, len);
    }
    std::string sha256_hex() { return m_sha256 ? m_sha256->finish_hex() : std::string(); }
    std::string xxh3_128_hex() { return m_xxh3->finish_hex(); }

private:
    std::unique_ptr<Sha256> m_sha256;
    std::unique_ptr<Xxh3Hash> m_xxh3;
};

// The compress stage: original bytes in, zstd frames (or raw blocks) out to next; finish() ends the data
// and appends the trailer it is given.
class FrameCompressor {
public:
    explicit FrameCompressor(size_t frame_bytes)
        : m_cctx(ZSTD_createCCtx())
        , m_frame_bytes(std::max(frame_bytes, k_probe_bytes))
        , m_out(ZSTD_CStreamOutSize())
    {
        if (m_cctx == nullptr)
            throw std::bad_alloc();
    }
    ~FrameCompressor() { ZSTD_freeCCtx(m_cctx); }
    FrameCompressor(const FrameCompressor&) = delete;
    FrameCompressor& operator=(const FrameCompressor&) = delete;

    // next must stay valid until finish() returns.
    Status begin(const Compression& compression, const ByteSink& next);
    Status update(const uint8_t* data, size_t len);
    Status finish(const std::vector<uint8_t>& trailer);
    const Compression& compression() const { return m_compression; }
    uint64_t bytes_in() const { return m_in; }
    uint64_t bytes_out() const { return m_stored; }

private:
    Status emit(const uint8_t* data, size_t len);
    Status emit_raw_block(const uint8_t* data, size_t len, bool last);
    Status emit_raw_frame(const uint8_t* data, size_t len);
    Status flush_chunk();

    ZSTD_CCtx* m_cctx;
    size_t m_frame_bytes;
    std::vector<uint8_t> m_out;
    std::vector<uint8_t> m_chunk;  // zstd: input gathered into one frame per m_frame_bytes
    Compression m_compression;
    const ByteSink* m_next = nullptr;
    uint64_t m_in = 0;
    uint64_t m_stored = 0;
};

Status FrameCompressor::emit(const uint8_t* data, size_t len)
{
    m_stored += len;
    return len == 0 ? Status::ok() : (*m_next)(data, len);
}

Status FrameCompressor::emit_raw_block(const uint8_t* data, size_t len, bool last)
{
    const uint32_t header = static_cast<uint32_t>(len) << 3 | (last ? 1u : 0u);  // Block_Type 0 = Raw
    const uint8_t h[3] = {
        static_cast<uint8_t>(header), static_cast<uint8_t>(header >> 8), static_cast<uint8_t>(header >> 16)};
    Status s = emit(h, sizeof(h));
    return s.is_ok() ? emit(data, len) : s;
}

Status FrameCompressor::emit_raw_frame(const uint8_t* data, size_t len)
{
    std::vector<uint8_t> header;
    put_le32(header, k_zstd_frame_magic);
    header.push_back(k_raw_frame_header_descriptor);
    header.push_back(k_raw_window_descriptor);
    Status s = emit(header.data(), header.size());
    while (s.is_ok() && len > k_raw_block_max) {
        s = emit_raw_block(data, k_raw_block_max, false);
        data += k_raw_block_max;
        len -= k_raw_block_max;
    }
    return s.is_ok() ? emit_raw_block(data, len, true) : s;
}

Status FrameCompressor::begin(const Compression& compression, const ByteSink& next)
{
    m_compression = compression;
    m_next = &next;
    m_in = 0;
    m_stored = 0;
    m_chunk.clear();
    if (compression.kind == Compression::Kind::none) {
        std::vector<uint8_t> header;
        put_le32(header, k_zstd_frame_magic);
        header.push_back(k_raw_frame_header_descriptor);
        header.push_back(k_raw_window_descriptor);
        return emit(header.data(), header.size());
    }
    m_chunk.reserve(m_frame_bytes);
    if (m_out.size() < ZSTD_compressBound(m_frame_bytes))
        m_out.resize(ZSTD_compressBound(m_frame_bytes));
    return Status::ok();
}

// One frame of m_chunk: raw blocks if a level-1 sample does not compress, else a zstd frame with content
// size and checksum, at k_low_saving_level if the sample barely compresses and at the configured level
// otherwise. An empty object still gets one (empty) zstd frame, so that `zstd -d` sees a data frame.
Status FrameCompressor::flush_chunk()
{
    const uint8_t* data = m_chunk.data();
    const size_t len = m_chunk.size();
    int level = m_compression.level;
    if (len >= k_probe_bytes) {
        const size_t probe = ZSTD_compressCCtx(m_cctx, m_out.data(), m_out.size(), data, k_probe_bytes, 1);
        if (ZSTD_isError(probe))
            return zstd_error("zstd compression failed", probe);
        if (probe > k_probe_bytes - k_probe_bytes / k_probe_min_saving_divisor) {
            m_chunk.clear();
            return emit_raw_frame(data, len);
        }
        if (probe > k_probe_bytes - k_probe_bytes / k_probe_low_saving_divisor)
            level = k_low_saving_level;
    }
    ZSTD_CCtx_reset(m_cctx, ZSTD_reset_session_and_parameters);
    size_t rc = ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(rc))
        rc = ZSTD_CCtx_setParameter(m_cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(rc))
        rc = ZSTD_compress2(m_cctx, m_out.data(), m_out.size(), data, len);
    if (ZSTD_isError(rc))
        return zstd_error("zstd compression failed", rc);
    m_chunk.clear();
    return emit(m_out.data(), rc);
}

Status FrameCompressor::update(const uint8_t* data, size_t len)
{
    m_in += len;
    if (m_compression.kind == Compression::Kind::none) {
        while (len > 0) {
            const size_t n = std::min(len, k_raw_block_max);
            Status s = emit_raw_block(data, n, false);
            if (!s.is_ok())
                return s;
            data += n;
            len -= n;
        }
        return Status::ok();
    }
    while (len > 0) {
        const size_t n = std::min(len, m_frame_bytes - m_chunk.size());
        m_chunk.insert(m_chunk.end(), data, data + n);
        data += n;
        len -= n;
        if (m_chunk.size() == m_frame_bytes) {
            Status s = flush_chunk();
            if (!s.is_ok())
                return s;
        }
    }
    return Status::ok();
}

Status FrameCompressor::finish(const std::vector<uint8_t>& trailer)
{
    if (m_compression.kind == Compression::Kind::none) {
        Status s = emit_raw_block(nullptr, 0, true);
        if (!s.is_ok())
            return s;
    } else if (!m_chunk.empty() || m_in == 0) {
        Status s = flush_chunk();
        if (!s.is_ok())
            return s;
    }
    return emit(trailer.data(), trailer.size());
}

// The decompress stage: stored bytes in, original bytes out to next; finish() checks that the last frame
// ended and parses the trailer, which it finds in the last bytes it was given.
class FrameDecompressor {
public:
    FrameDecompressor()
        : m_dctx(ZSTD_createDCtx())
        , m_out(ZSTD_DStreamOutSize())
    {
        if (m_dctx == nullptr)
            throw std::bad_alloc();
    }
    ~FrameDecompressor() { ZSTD_freeDCtx(m_dctx); }
    FrameDecompressor(const FrameDecompressor&) = delete;
    FrameDecompressor& operator=(const FrameDecompressor&) = delete;

    // next must stay valid until finish() returns.
    void begin(const ByteSink& next)
    {
        ZSTD_DCtx_reset(m_dctx, ZSTD_reset_session_only);
        m_next = &next;
        m_tail.clear();
        m_last_hint = 1;  // nothing decoded yet
    }
    Status update(const uint8_t* data, size_t len);
    Status finish(ObjectMeta& meta);

private:
    ZSTD_DCtx* m_dctx;
    std::vector<uint8_t> m_out;
    std::vector<uint8_t> m_tail;
    const ByteSink* m_next = nullptr;
    size_t m_last_hint = 0;  // 0 once a frame has been fully decoded
};

Status FrameDecompressor::update(const uint8_t* data, size_t len)
{
    // Keep the last bytes seen: the trailer is at the very end.
    m_tail.insert(m_tail.end(), data + (len > k_max_trailer_bytes ? len - k_max_trailer_bytes : 0), data + len);
    if (m_tail.size() > 2 * k_max_trailer_bytes)
        m_tail.erase(m_tail.begin(), m_tail.end() - static_cast<std::ptrdiff_t>(k_max_trailer_bytes));
    ZSTD_inBuffer in{data, len, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
        const size_t rc = ZSTD_decompressStream(m_dctx, &out, &in);
        if (ZSTD_isError(rc))
            return Status::error(Code::corrupt, "zstd data is corrupt: " + zstd_error_text(rc));
        m_last_hint = rc;
        if (out.pos > 0) {
            Status s = (*m_next)(m_out.data(), out.pos);
            if (!s.is_ok())
                return s;
        }
    }
    return Status::ok();
}

Status FrameDecompressor::finish(ObjectMeta& meta)
{
    // Drain output the decoder may still hold.
    for (;;) {
        ZSTD_inBuffer in{nullptr, 0, 0};
        ZSTD_outBuffer out{m_out.data(), m_out.size(), 0};
        const size_t rc = ZSTD_decompressStream(m_dctx, &out, &in);
        if (ZSTD_isError(rc))
            return Status::error(Code::corrupt, "zstd data is corrupt: " + zstd_error_text(rc));
        if (out.pos == 0)
            break;
        m_last_hint = rc;
        Status s = (*m_next)(m_out.data(), out.pos);
        if (!s.is_ok())
            return s;
    }
    if (m_last_hint != 0)
        return Status::error(Code::corrupt, "zstd data is truncated");
    return parse_trailer(m_tail.data(), m_tail.size(), meta);
}

// ---- The chains -------------------------------------------------------------------------------------------

Encoder::Encoder(size_t frame_bytes)
    : m_hash(std::make_unique<ContentHash>())
    , m_compressor(std::make_unique<FrameCompressor>(frame_bytes))
    , m_to_stage([this](const uint8_t* data, size_t len) { return m_active->update(data, len); })
    , m_counted([this](const uint8_t* data, size_t len) {
        m_stored += len;
        return m_sink(data, len);
    })
{
    m_hash->begin(true);
}

Encoder::~Encoder() = default;

Status Encoder::begin(const Compression& compression, const ByteSink& out, std::optional<uint64_t> pledged_size)
{
    (void)pledged_size;
    m_sink = out;
    m_stored = 0;
    m_hash->begin(true);
    m_active = m_stage;
    if (m_active == nullptr)
        return m_compressor->begin(compression, m_sink);
    m_active->begin(m_counted);
    return m_compressor->begin(compression, m_to_stage);
}

Status Encoder::update(const uint8_t* data, size_t len)
{
    m_hash->update(data, len);
    return m_compressor->update(data, len);
}

Status Encoder::finish(const std::string& name, EncodeResult& result)
{
    ObjectMeta meta;
    meta.name = name;
    meta.length = m_compressor->bytes_in();
    meta.sha256 = m_hash->sha256_hex();
    meta.xxh3_128 = m_hash->xxh3_128_hex();
    meta.compression = m_compressor->compression().to_string();
    Status s = m_compressor->finish(encode_trailer(meta));
    if (s.is_ok() && m_active != nullptr)
        s = m_active->finish();
    if (!s.is_ok())
        return s;
    result.bytes_in = meta.length;
    result.bytes_out = m_active != nullptr ? m_stored : m_compressor->bytes_out();
    result.sha256 = meta.sha256;
    result.xxh3_128 = meta.xxh3_128;
    return Status::ok();
}

PrefixEncoder::PrefixEncoder(size_t frame_bytes)
    : m_frame_bytes(std::max(frame_bytes, k_probe_bytes))  // as FrameCompressor's
    , m_compressor(std::make_unique<FrameCompressor>(frame_bytes))
{
}

PrefixEncoder::~PrefixEncoder() = default;

void PrefixEncoder::reset()
{
    m_sha256.reset();
    m_xxh3.reset();
    m_frames.clear();
    m_covered = 0;
    m_buffer.clear();
}

Status PrefixEncoder::encode(const Compression& compression, const std::string& buffer, const std::string& name,
    const uint8_t* data, size_t len, std::vector<uint8_t>& object, EncodeResult& result)
{
    if (buffer != m_buffer || len < m_covered || !(compression == m_compression) || !m_sha256)
        reset();
    if (!m_sha256) {
        m_sha256 = std::make_unique<Sha256>();
        m_xxh3 = std::make_unique<Xxh3Hash>();
        m_sha256_end = std::make_unique<Sha256>();
        m_xxh3_end = std::make_unique<Xxh3Hash>();
        m_buffer = buffer;
        m_compression = compression;
    }
    // The frames that are complete now join the kept ones: each begin() .. finish() of the compressor is a
    // whole frame (zstd), or a whole frame of raw blocks (none).
    const ByteSink to_frames = [this](const uint8_t* d, size_t n) {
        m_frames.insert(m_frames.end(), d, d + n);
        return Status::ok();
    };
    while (len - m_covered >= m_frame_bytes) {
        const uint8_t* frame = data + m_covered;
        Status s = m_compressor->begin(compression, to_frames);
        if (s.is_ok())
            s = m_compressor->update(frame, m_frame_bytes);
        if (s.is_ok())
            s = m_compressor->finish({});
        if (!s.is_ok()) {
            reset();
            return s;
        }
        m_sha256->update(frame, m_frame_bytes);
        m_xxh3->update(frame, m_frame_bytes);
        m_covered += m_frame_bytes;
    }
    // The object: the kept frames, the rest as one more frame, the trailer.
    object = m_frames;
    const uint8_t* rest = data + m_covered;
    const size_t rest_len = len - m_covered;
    m_sha256_end->copy_from(*m_sha256);
    m_xxh3_end->copy_from(*m_xxh3);
    m_sha256_end->update(rest, rest_len);
    m_xxh3_end->update(rest, rest_len);
    ObjectMeta meta;
    meta.name = name;
    meta.length = len;
    meta.sha256 = m_sha256_end->finish_hex();
    meta.xxh3_128 = m_xxh3_end->finish_hex();
    meta.compression = compression.to_string();
    const ByteSink to_object = [&object](const uint8_t* d, size_t n) {
        object.insert(object.end(), d, d + n);
        return Status::ok();
    };
    if (rest_len == 0 && m_covered > 0) {  // no frame for the rest (a compressor would add an empty one)
        const std::vector<uint8_t> trailer = encode_trailer(meta);
        object.insert(object.end(), trailer.begin(), trailer.end());
    } else {
        Status s = m_compressor->begin(compression, to_object);
        if (s.is_ok())
            s = m_compressor->update(rest, rest_len);
        if (s.is_ok())
            s = m_compressor->finish(encode_trailer(meta));
        if (!s.is_ok())
            return s;
    }
    result.bytes_in = len;
    result.bytes_out = object.size();
    result.sha256 = meta.sha256;
    result.xxh3_128 = meta.xxh3_128;
    return Status::ok();
}

Status encode_file(Encoder& encoder, const Compression& compression, const std::string& path, const std::string& name,
    const ByteSink& out, EncodeResult& result)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Status::error(errno == ENOENT ? Code::not_found : Code::io_error,
            "could not open file \"" + path + "\": " + errno_text(errno));
    const Fd closer(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0)
        return Status::error(Code::io_error, "could not stat file \"" + path + "\": " + errno_text(errno));
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    Status s = encoder.begin(compression, out, static_cast<uint64_t>(st.st_size));
    if (!s.is_ok())
        return s;
    thread_local std::vector<uint8_t> buf;
    buf.resize(k_read_chunk);
    uint64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return Status::error(Code::io_error, "could not read file \"" + path + "\": " + errno_text(errno));
        }
        if (n == 0)
            break;
        total += static_cast<uint64_t>(n);
        s = encoder.update(buf.data(), static_cast<size_t>(n));
        if (!s.is_ok())
            return s;
    }
    if (total != static_cast<uint64_t>(st.st_size))
        return Status::error(Code::io_error,
            "file \"" + path + "\" changed size while being read (" + std::to_string(st.st_size) + " then " +
                std::to_string(total) + " bytes)");
    return encoder.finish(name, result);
}

Decoder::Decoder()
    : m_decompressor(std::make_unique<FrameDecompressor>())
    , m_hash(std::make_unique<ContentHash>())
    , m_to_decompressor([this](const uint8_t* data, size_t len) { return m_decompressor->update(data, len); })
    , m_checked([this](const uint8_t* data, size_t len) {
        m_hash->update(data, len);
        m_length += len;
        return m_sink(data, len);
    })
{
    m_hash->begin(false);
}

Decoder::~Decoder() = default;

void Decoder::begin(const ByteSink& out, ContentCheck check)
{
    m_sink = out;
    m_check = check;
    m_hash->begin(check == ContentCheck::sha256);
    m_length = 0;
    m_needs_sha256 = false;
    m_active = m_stage;
    if (m_active != nullptr)
        m_active->begin(m_to_decompressor);
    m_decompressor->begin(m_checked);
}

Status Decoder::update(const uint8_t* data, size_t len)
{
    return m_active != nullptr ? m_active->update(data, len) : m_decompressor->update(data, len);
}

Status Decoder::finish(ObjectMeta& meta)
{
    Status s = m_active != nullptr ? m_active->finish() : Status::ok();
    if (s.is_ok())
        s = m_decompressor->finish(meta);
    if (!s.is_ok())
        return s;
    const std::string xxh3 = m_hash->xxh3_128_hex();
    if (m_check == ContentCheck::xxh3 && meta.xxh3_128.empty()) {
        m_needs_sha256 = true;
        return Status::error(Code::corrupt, "the metadata records no xxh3_128 to check the content against");
    }
    if (m_check == ContentCheck::sha256) {
        const std::string sha = m_hash->sha256_hex();
        if (m_length != meta.length || sha != meta.sha256)
            return Status::error(Code::corrupt,
                "content does not match its metadata: " + std::to_string(m_length) + " bytes with sha256 " + sha +
                    ", recorded " + std::to_string(meta.length) + " bytes with sha256 " + meta.sha256);
    }
    if (!meta.xxh3_128.empty() && (m_length != meta.length || xxh3 != meta.xxh3_128))
        return Status::error(Code::corrupt,
            "content does not match its metadata: " + std::to_string(m_length) + " bytes with xxh3_128 " + xxh3 +
                ", recorded " + std::to_string(meta.length) + " bytes with xxh3_128 " + meta.xxh3_128);
    return Status::ok();
}

}  // namespace walvault
