// Unit tests for core/codec/codec: compression settings, the object format (a zstd stream that plain
// libzstd restores, then the metadata trailer), encoder/decoder round trips and damage detection.
#include "core/codec/codec.h"

#include "core/codec/xxh3.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <vector>

namespace walvault {
namespace {

using test::k_mib;
using test::TempDir;

using test::k_block_header_bytes;
using test::k_object_name;
using test::k_raw_frame_header_bytes;
constexpr size_t k_raw_block_max = 128 * 1024;

Compression compression_of(const std::string& text)
{
    std::string error;
    const auto c = Compression::parse(text, &error);
    if (!c)
        throw std::runtime_error("bad compression " + text + ": " + error);
    return *c;
}

// Encodes data fed in pieces of chunk bytes.
std::vector<uint8_t> encode(const Compression& c, const std::vector<uint8_t>& data, size_t chunk, EncodeResult& result,
    std::optional<uint64_t> pledged = std::nullopt, const std::string& name = k_object_name)
{
    static Encoder encoder;  // reused on purpose, as the module does
    std::vector<uint8_t> out;
    Status s = encoder.begin(c, test::vector_sink(out), pledged);
    for (size_t pos = 0; s.is_ok() && pos < data.size(); pos += chunk)
        s = encoder.update(data.data() + pos, std::min(chunk, data.size() - pos));
    if (s.is_ok())
        s = encoder.finish(name, result);
    if (!s.is_ok())
        throw std::runtime_error("encode failed: " + s.message());
    return out;
}

std::vector<uint8_t> encode(const Compression& c, const std::vector<uint8_t>& data)
{
    EncodeResult result;
    return encode(c, data, data.empty() ? 1 : data.size(), result);
}

// Decodes an object fed in pieces of chunk bytes.
Status decode(const std::vector<uint8_t>& object, size_t chunk, std::vector<uint8_t>& out, ObjectMeta& meta,
    ContentCheck check = ContentCheck::sha256, bool* needs_sha256 = nullptr)
{
    Decoder decoder;
    decoder.begin(test::vector_sink(out), check);
    for (size_t pos = 0; pos < object.size(); pos += chunk) {
        Status s = decoder.update(object.data() + pos, std::min(chunk, object.size() - pos));
        if (!s.is_ok())
            return s;
    }
    Status s = decoder.finish(meta);
    if (needs_sha256 != nullptr)
        *needs_sha256 = decoder.needs_sha256();
    return s;
}

Status decode(const std::vector<uint8_t>& object, ContentCheck check = ContentCheck::sha256)
{
    std::vector<uint8_t> out;
    ObjectMeta meta;
    return decode(object, 65536, out, meta, check);
}

// Plain libzstd over the whole object, as `zstd -d` would run it (skippable frames are skipped).
bool plain_zstd_decompress(const std::vector<uint8_t>& object, std::vector<uint8_t>& out)
{
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<uint8_t> buf(ZSTD_DStreamOutSize());
    ZSTD_inBuffer in{object.data(), object.size(), 0};
    size_t rc = 1;
    bool ok = true;
    while (ok && (in.pos < in.size || rc != 0)) {
        ZSTD_outBuffer o{buf.data(), buf.size(), 0};
        const size_t before = in.pos;
        rc = ZSTD_decompressStream(dctx, &o, &in);
        if (ZSTD_isError(rc))
            ok = false;
        else
            out.insert(out.end(), buf.data(), buf.data() + o.pos);
        if (ok && o.pos == 0 && in.pos == before && in.pos == in.size && rc != 0)
            ok = false;  // truncated
    }
    ZSTD_freeDCtx(dctx);
    return ok;
}

// Size of the zstd data frames at the start of an object: everything before the skippable trailer.
size_t data_frame_size(const std::vector<uint8_t>& object, size_t* frames = nullptr)
{
    size_t pos = 0;
    size_t count = 0;
    while (pos + 4 <= object.size()) {
        const uint32_t magic = static_cast<uint32_t>(object[pos]) | static_cast<uint32_t>(object[pos + 1]) << 8 |
            static_cast<uint32_t>(object[pos + 2]) << 16 | static_cast<uint32_t>(object[pos + 3]) << 24;
        if ((magic & 0xFFFFFFF0u) == 0x184D2A50u)
            break;
        const size_t n = ZSTD_findFrameCompressedSize(object.data() + pos, object.size() - pos);
        if (ZSTD_isError(n))
            throw std::runtime_error(std::string("no zstd frame: ") + ZSTD_getErrorName(n));
        pos += n;
        count++;
    }
    if (count == 0)
        throw std::runtime_error("no zstd data frame");
    if (frames != nullptr)
        *frames = count;
    return pos;
}

const std::vector<uint8_t>& random_16mib()
{
    static const std::vector<uint8_t> data = test::random_bytes(16 * k_mib, 42);
    return data;
}

const std::vector<uint8_t>& compressible_16mib()
{
    static const std::vector<uint8_t> data = test::compressible_bytes(16 * k_mib);
    return data;
}

// The object gives back data through plain libzstd (as `zstd -d` would) and through walvault's decoder;
// returns the metadata the decoder read.
ObjectMeta expect_decodes_to(const std::vector<uint8_t>& object, const std::vector<uint8_t>& data)
{
    std::vector<uint8_t> plain;
    EXPECT_TRUE(plain_zstd_decompress(object, plain));
    EXPECT_TRUE(plain == data) << "libzstd gave " << plain.size() << " bytes of " << data.size();
    std::vector<uint8_t> decoded;
    ObjectMeta meta;
    WV_EXPECT_OK(decode(object, 4096, decoded, meta));
    EXPECT_TRUE(decoded == data) << "the decoder gave " << decoded.size() << " bytes of " << data.size();
    EXPECT_EQ(meta.sha256, sha256_hex(data.data(), data.size()));
    EXPECT_EQ(meta.xxh3_128, xxh3_128_hex(data.data(), data.size()));
    // Checked by the xxh3_128 alone, the same bytes.
    std::vector<uint8_t> fast;
    ObjectMeta fast_meta;
    WV_EXPECT_OK(decode(object, 4096, fast, fast_meta, ContentCheck::xxh3));
    EXPECT_TRUE(fast == data) << "the fast check gave " << fast.size() << " bytes of " << data.size();
    return meta;
}

// ---- Compression settings -------------------------------------------------------------------------------

TEST(CompressionParse, ValidValues)
{
    std::string error = "untouched";
    auto c = Compression::parse("none", &error);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->kind, Compression::Kind::none);
    EXPECT_EQ(c->to_string(), "none");

    c = Compression::parse("zstd", &error);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->kind, Compression::Kind::zstd);
    EXPECT_EQ(c->level, 3);
    EXPECT_EQ(c->to_string(), "zstd:3");

    c = Compression::parse("zstd:1", &error);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->kind, Compression::Kind::zstd);
    EXPECT_EQ(c->level, 1);
    EXPECT_EQ(c->to_string(), "zstd:1");

    c = Compression::parse("zstd:19", &error);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->level, 19);
    EXPECT_EQ(c->to_string(), "zstd:19");

    EXPECT_EQ(Compression::parse("zstd:3", nullptr), Compression::parse("zstd", nullptr));
    EXPECT_EQ(error, "untouched");

    // The default-constructed value is zstd's default level, and to_string() parses back to itself.
    EXPECT_EQ(Compression().to_string(), "zstd:3");
    for (const char* text : {"none", "zstd:1", "zstd:3", "zstd:9", "zstd:19"}) {
        const auto parsed = Compression::parse(text, nullptr);
        ASSERT_TRUE(parsed.has_value()) << text;
        EXPECT_EQ(parsed->to_string(), text);
        EXPECT_EQ(Compression::parse(parsed->to_string(), nullptr), parsed);
    }
}

TEST(CompressionParse, Rejections)
{
    const std::string unknown_tail = "\"; valid values are \"none\", \"zstd\" and \"zstd:LEVEL\"";
    const std::string level_range = "zstd level must be between 1 and 19";
    const std::pair<const char*, std::string> cases[] = {
        {"zstd:0", level_range},
        {"zstd:20", level_range},
        {"zstd:-1", level_range},
        {"zstd:", level_range},
        {"zstd:3x", level_range},
        {"zstd: 3", level_range},
        {"zstd:99999999999999999999", level_range},
        {"none:1", "\"none\" takes no level"},
        {"none:", "\"none\" takes no level"},
        {"lz4", "unknown compression \"lz4" + unknown_tail},
        {"lz4:1", "unknown compression \"lz4" + unknown_tail},
        {"", "unknown compression \"" + unknown_tail},
        {"ZSTD", "unknown compression \"ZSTD" + unknown_tail},
        {"zstd ", "unknown compression \"zstd " + unknown_tail},
        {"gzip", "unknown compression \"gzip" + unknown_tail},
    };
    for (const auto& [text, message] : cases) {
        std::string error;
        EXPECT_FALSE(Compression::parse(text, &error).has_value()) << '"' << text << '"';
        EXPECT_EQ(error, message) << '"' << text << '"';
        EXPECT_FALSE(Compression::parse(text, nullptr).has_value()) << '"' << text << '"';
    }
}

TEST(CompressionParse, CodecTableIsConsistent)
{
    for (const CodecInfo& codec : k_codecs) {
        EXPECT_LE(codec.min_level, codec.default_level) << codec.name;
        EXPECT_LE(codec.default_level, codec.max_level) << codec.name;
        const auto c = Compression::parse(codec.name, nullptr);
        ASSERT_TRUE(c.has_value()) << codec.name;
        EXPECT_EQ(c->level, codec.default_level);
    }
}

// ---- XXH3-128 -------------------------------------------------------------------------------------------

// Known answers from xxHash's own command-line tool (`xxhsum -H2`, Debian's xxhash 0.8.1), which prints the
// canonical (big-endian) digest.
TEST(Xxh3, KnownAnswers)
{
    EXPECT_EQ(xxh3_128_hex(nullptr, 0), "99aa06d3014798d86001c324468d497f");
    const std::string abc = "abc";
    EXPECT_EQ(
        xxh3_128_hex(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()), "06b05ab6733a618578af5f94892f3950");
    const std::vector<uint8_t> mib(k_mib, 'a');
    EXPECT_EQ(xxh3_128_hex(mib.data(), mib.size()), "d9c8388c188701b8c9b8a70a3f30f7b1");
}

TEST(Xxh3, AnySplitGivesTheSameDigestAndTheHashStartsOver)
{
    const std::vector<uint8_t> data = test::random_bytes(200 * 1024 + 11, 5);
    const std::string whole = xxh3_128_hex(data.data(), data.size());
    Xxh3Hash h;  // one object throughout: finish_hex() starts it over
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, size_t{65537}, data.size()}) {
        for (size_t pos = 0; pos < data.size(); pos += chunk)
            h.update(data.data() + pos, std::min(chunk, data.size() - pos));
        EXPECT_EQ(h.finish_hex(), whole) << "chunk " << chunk;
    }
}

// ---- Trailer ---------------------------------------------------------------------------------------------

TEST(Trailer, ExactBytes)
{
    ObjectMeta meta;
    meta.name = k_object_name;
    meta.length = 16777216;
    meta.sha256 = std::string(64, 'a');
    meta.compression = "zstd:3";
    const std::vector<uint8_t> t = encode_trailer(meta);
    const std::string json = "{\"format\":1,\"name\":\"000000010000000000000003\",\"length\":16777216,\"sha256\":\"" +
        std::string(64, 'a') + "\",\"compression\":\"zstd:3\"}";
    const uint32_t content = static_cast<uint32_t>(json.size() + 8);
    std::vector<uint8_t> expected = {0x57, 0x2A, 0x4D, 0x18};  // k_trailer_frame_magic, little-endian
    for (int i = 0; i < 4; ++i)
        expected.push_back(static_cast<uint8_t>(content >> (8 * i)));
    expected.insert(expected.end(), json.begin(), json.end());
    for (int i = 0; i < 4; ++i)
        expected.push_back(static_cast<uint8_t>((content + 8) >> (8 * i)));
    expected.insert(expected.end(), {'W', 'V', 'M', 'T'});
    EXPECT_EQ(test::to_string(t), test::to_string(expected));

    // A zstd skippable frame: libzstd sees one frame spanning the whole trailer.
    EXPECT_EQ(ZSTD_findFrameCompressedSize(t.data(), t.size()), t.size());
    std::vector<uint8_t> plain;
    EXPECT_TRUE(plain_zstd_decompress(t, plain));
    EXPECT_TRUE(plain.empty());
}

TEST(Trailer, ExactBytesWithXxh3)
{
    ObjectMeta meta;
    meta.name = k_object_name;
    meta.length = 5;
    meta.sha256 = std::string(64, 'a');
    meta.xxh3_128 = std::string(32, 'b');
    meta.compression = "zstd:3";
    const std::string json = "{\"format\":1,\"name\":\"000000010000000000000003\",\"length\":5,\"sha256\":\"" +
        std::string(64, 'a') + "\",\"xxh3_128\":\"" + std::string(32, 'b') + "\",\"compression\":\"zstd:3\"}";
    const std::vector<uint8_t> t = encode_trailer(meta);
    ASSERT_EQ(t.size(), 8 + json.size() + 8);
    EXPECT_EQ(test::to_string(std::vector<uint8_t>(t.begin() + 8, t.end() - 8)), json);
}

TEST(Trailer, ParsesWhatItEncodes)
{
    for (const std::string xxh3 : {"", "0123456789abcdef0123456789abcdef"}) {
        ObjectMeta meta;
        meta.name = "000000010000000000000003.00000028.backup";
        meta.length = 0xFFFFFFFFFFFFULL;
        meta.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        meta.xxh3_128 = xxh3;
        meta.compression = "none";
        std::vector<uint8_t> bytes = {1, 2, 3};  // something before the trailer
        const std::vector<uint8_t> t = encode_trailer(meta);
        bytes.insert(bytes.end(), t.begin(), t.end());
        ObjectMeta out;
        WV_ASSERT_OK(parse_trailer(bytes.data(), bytes.size(), out));
        EXPECT_EQ(out.format, k_object_format);
        EXPECT_EQ(out.name, meta.name);
        EXPECT_EQ(out.length, meta.length);
        EXPECT_EQ(out.sha256, meta.sha256);
        EXPECT_EQ(out.xxh3_128, xxh3);
        EXPECT_EQ(out.compression, meta.compression);
    }
}

TEST(Trailer, Rejections)
{
    ObjectMeta meta;
    meta.name = k_object_name;
    meta.sha256 = "x";
    meta.compression = "none";
    const std::vector<uint8_t> good = encode_trailer(meta);
    ObjectMeta out;

    auto expect_corrupt = [&](const std::vector<uint8_t>& bytes, const std::string& why) {
        const Status s = parse_trailer(bytes.data(), bytes.size(), out);
        EXPECT_EQ(s.code(), Code::corrupt) << why;
        EXPECT_EQ(s.message(), "object has no valid metadata trailer: " + why);
    };
    expect_corrupt({}, "object too short");
    expect_corrupt(std::vector<uint8_t>(good.end() - 15, good.end()), "object too short");
    expect_corrupt(std::vector<uint8_t>(good.begin(), good.end() - 1), "footer magic missing");
    expect_corrupt(std::vector<uint8_t>(good.begin() + 1, good.end()), "frame size out of range");

    std::vector<uint8_t> bad_magic = good;
    bad_magic[0] ^= 0xFF;
    expect_corrupt(bad_magic, "frame header mismatch");

    std::vector<uint8_t> bad_json = good;
    bad_json[8] = '[';
    expect_corrupt(bad_json, "metadata is not JSON");

    // Valid frames whose JSON lacks fields or has the wrong types.
    auto frame_of = [](const std::string& json) {
        std::vector<uint8_t> out = {0x57, 0x2A, 0x4D, 0x18};
        const uint32_t content = static_cast<uint32_t>(json.size() + 8);
        for (int i = 0; i < 4; ++i)
            out.push_back(static_cast<uint8_t>(content >> (8 * i)));
        out.insert(out.end(), json.begin(), json.end());
        for (int i = 0; i < 4; ++i)
            out.push_back(static_cast<uint8_t>((content + 8) >> (8 * i)));
        out.insert(out.end(), {'W', 'V', 'M', 'T'});
        return out;
    };
    expect_corrupt(frame_of("[1,2]"), "metadata is not JSON");
    expect_corrupt(frame_of("{\"format\":1,\"name\":\"n\",\"length\":1,\"sha256\":\"s\"}"), "metadata fields missing");
    expect_corrupt(frame_of("{\"format\":1,\"name\":\"n\",\"length\":-1,\"sha256\":\"s\",\"compression\":\"none\"}"),
        "metadata fields missing");
    expect_corrupt(frame_of("{\"format\":1,\"name\":2,\"length\":1,\"sha256\":\"s\",\"compression\":\"none\"}"),
        "metadata fields missing");
    expect_corrupt(frame_of("{\"format\":\"1\",\"name\":\"n\",\"length\":1,\"sha256\":\"s\",\"compression\":\"none\"}"),
        "metadata fields missing");
    expect_corrupt(
        frame_of("{\"format\":1,\"name\":\"n\",\"length\":1,\"sha256\":\"s\",\"xxh3_128\":7,\"compression\":\"none\"}"),
        "metadata fields missing");

    const std::vector<uint8_t> minimal =
        frame_of("{\"format\":1,\"name\":\"n\",\"length\":1,\"sha256\":\"s\",\"compression\":\"none\"}");
    WV_EXPECT_OK(parse_trailer(minimal.data(), minimal.size(), out));
    EXPECT_EQ(out.name, "n");

    // A newer format is not damage: it asks for an upgrade.
    const std::vector<uint8_t> newer =
        frame_of("{\"format\":2,\"name\":\"n\",\"length\":1,\"sha256\":\"s\",\"compression\":\"none\"}");
    const Status s = parse_trailer(newer.data(), newer.size(), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "object format 2 is newer than this walvault understands (1)");
    EXPECT_EQ(s.hint(), "Upgrade walvault.");
}

// ---- Round trips -----------------------------------------------------------------------------------------

struct RoundTripCase {
    const char* compression;
    const char* data;  // "empty", "one", "random16", "text16"
    size_t encode_chunk;
    size_t decode_chunk;
};

std::ostream& operator<<(std::ostream& os, const RoundTripCase& c)
{
    return os << c.compression << "/" << c.data << "/enc" << c.encode_chunk << "/dec" << c.decode_chunk;
}

const std::vector<uint8_t>& data_of(const std::string& which)
{
    static const std::vector<uint8_t> empty;
    static const std::vector<uint8_t> one = {0x5A};
    if (which == "empty")
        return empty;
    if (which == "one")
        return one;
    if (which == "random16")
        return random_16mib();
    return compressible_16mib();
}

class CodecRoundTrip : public ::testing::TestWithParam<RoundTripCase> { };

TEST_P(CodecRoundTrip, DecodesToTheOriginal)
{
    const RoundTripCase& p = GetParam();
    const Compression c = compression_of(p.compression);
    const std::vector<uint8_t>& data = data_of(p.data);
    const std::string sha = sha256_hex(data.data(), data.size());

    EncodeResult result;
    const std::vector<uint8_t> object = encode(c, data, p.encode_chunk, result);
    EXPECT_EQ(result.bytes_in, data.size());
    EXPECT_EQ(result.bytes_out, object.size());
    EXPECT_EQ(result.sha256, sha);

    // Our decoder, fed in odd pieces.
    std::vector<uint8_t> decoded;
    ObjectMeta meta;
    WV_ASSERT_OK(decode(object, p.decode_chunk, decoded, meta));
    EXPECT_TRUE(decoded == data) << "decoded " << decoded.size() << " bytes of " << data.size();
    EXPECT_EQ(meta.format, k_object_format);
    EXPECT_EQ(meta.name, k_object_name);
    EXPECT_EQ(meta.length, data.size());
    EXPECT_EQ(meta.sha256, sha);
    EXPECT_EQ(meta.compression, c.to_string());

    // Plain libzstd over the whole object skips the trailer and restores the original.
    std::vector<uint8_t> plain;
    ASSERT_TRUE(plain_zstd_decompress(object, plain));
    EXPECT_TRUE(plain == data) << "libzstd gave " << plain.size() << " bytes of " << data.size();

    // The object is zstd data frames followed by the trailer.
    const size_t frame = data_frame_size(object);
    ObjectMeta expected_meta;
    expected_meta.name = k_object_name;
    expected_meta.length = data.size();
    expected_meta.sha256 = sha;
    expected_meta.xxh3_128 = xxh3_128_hex(data.data(), data.size());
    expected_meta.compression = c.to_string();
    const std::vector<uint8_t> trailer = encode_trailer(expected_meta);
    EXPECT_EQ(object.size(), frame + trailer.size());
    EXPECT_TRUE(std::equal(trailer.begin(), trailer.end(), object.begin() + static_cast<std::ptrdiff_t>(frame)));

    // The trailer parses from the object's bytes, and from its last k_max_trailer_bytes alone.
    ObjectMeta parsed;
    WV_ASSERT_OK(parse_trailer(object.data(), object.size(), parsed));
    EXPECT_EQ(parsed.name, k_object_name);
    EXPECT_EQ(parsed.length, data.size());
    EXPECT_EQ(parsed.sha256, sha);
    EXPECT_EQ(parsed.compression, c.to_string());
    const size_t tail = std::min(object.size(), k_max_trailer_bytes);
    WV_ASSERT_OK(parse_trailer(object.data() + object.size() - tail, tail, parsed));
    EXPECT_EQ(parsed.sha256, sha);
}

INSTANTIATE_TEST_SUITE_P(SmallInputs, CodecRoundTrip,
    ::testing::Values(RoundTripCase{"none", "empty", 1, 1}, RoundTripCase{"zstd:1", "empty", 1, 1},
        RoundTripCase{"zstd:3", "empty", 1, 7}, RoundTripCase{"none", "one", 1, 1},
        RoundTripCase{"zstd:1", "one", 1, 3}, RoundTripCase{"zstd:3", "one", 1, 1},
        RoundTripCase{"zstd:3", "one", 1, 100000}));

INSTANTIATE_TEST_SUITE_P(SixteenMib, CodecRoundTrip,
    ::testing::Values(RoundTripCase{"none", "random16", 7919, 4099}, RoundTripCase{"none", "text16", 1000003, 65537},
        RoundTripCase{"zstd:1", "random16", 1000003, 4097}, RoundTripCase{"zstd:1", "text16", 7919, 9001},
        RoundTripCase{"zstd:3", "random16", 131073, 1 << 20}, RoundTripCase{"zstd:3", "text16", 333333, 4095}));

TEST(Codec, DecoderAcceptsAnySplitOfASmallObject)
{
    // Every split point of the trailer region, including pieces of one byte.
    const std::vector<uint8_t> data = test::compressible_bytes(5000);
    for (const char* comp : {"none", "zstd:3"}) {
        const std::vector<uint8_t> object = encode(compression_of(comp), data);
        for (size_t chunk :
            {size_t{1}, size_t{2}, size_t{13}, size_t{255}, size_t{4096}, size_t{4097}, object.size()}) {
            std::vector<uint8_t> out;
            ObjectMeta meta;
            WV_ASSERT_OK(decode(object, chunk, out, meta));
            EXPECT_EQ(out, data) << comp << " chunk " << chunk;
        }
    }
}

TEST(Codec, DecoderIsReusable)
{
    const std::vector<uint8_t> a = test::to_bytes("first object");
    const std::vector<uint8_t> b = test::random_bytes(70000, 1);
    Decoder decoder;
    for (const auto* data : {&a, &b, &a}) {
        const std::vector<uint8_t> object = encode(compression_of("zstd:3"), *data);
        std::vector<uint8_t> out;
        decoder.begin(test::vector_sink(out));
        WV_ASSERT_OK(decoder.update(object.data(), object.size()));
        ObjectMeta meta;
        WV_ASSERT_OK(decoder.finish(meta));
        EXPECT_EQ(out, *data);
    }
}

TEST(Codec, CompressibleDataShrinks)
{
    const std::vector<uint8_t>& data = compressible_16mib();
    for (const char* comp : {"zstd:1", "zstd:3"}) {
        EncodeResult result;
        encode(compression_of(comp), data, 1 << 20, result);
        EXPECT_LT(result.bytes_out, data.size() / 10) << comp << ": " << result.bytes_out;
    }
}

TEST(Codec, IncompressibleDataGrowsOnlyByFrameOverhead)
{
    const std::vector<uint8_t>& data = random_16mib();
    EncodeResult result;
    const std::vector<uint8_t> object = encode(compression_of("zstd:3"), data, 1 << 20, result);
    ObjectMeta meta;
    WV_ASSERT_OK(parse_trailer(object.data(), object.size(), meta));
    EXPECT_LE(data_frame_size(object), ZSTD_compressBound(data.size()));
    // Stored as raw frames, one per k_frame_bytes, each with a frame header and one header per raw block.
    const size_t frame_count = data.size() / k_frame_bytes;
    const size_t blocks_per_frame = k_frame_bytes / k_raw_block_max;
    size_t frames = 0;
    EXPECT_EQ(data_frame_size(object, &frames),
        data.size() + frame_count * (k_raw_frame_header_bytes + blocks_per_frame * k_block_header_bytes));
    EXPECT_EQ(frames, frame_count);
    EXPECT_EQ(meta.compression, "zstd:3");
}

TEST(Codec, TheArchiversFramesAreHalfAMebibyte)
{
    // The module encodes with k_wal_frame_bytes (memory per file in flight); any reader takes both sizes.
    for (const bool compressible : {false, true}) {
        const std::vector<uint8_t>& data = compressible ? compressible_16mib() : random_16mib();
        Encoder encoder(k_wal_frame_bytes);
        std::vector<uint8_t> object;
        EncodeResult result;
        WV_ASSERT_OK(encoder.begin(compression_of("zstd:3"), test::vector_sink(object), std::nullopt));
        WV_ASSERT_OK(encoder.update(data.data(), data.size()));
        WV_ASSERT_OK(encoder.finish(k_object_name, result));
        size_t frames = 0;
        data_frame_size(object, &frames);
        EXPECT_EQ(frames, data.size() / k_wal_frame_bytes) << (compressible ? "compressible" : "random");
        EXPECT_EQ(expect_decodes_to(object, data).sha256, result.sha256);
    }
}

TEST(Codec, MixedDataCompressesOnlyWhatCompresses)
{
    // One frame of random bytes, then one of compressible ones, twice: raw, compressed, raw, compressed.
    std::vector<uint8_t> data;
    for (uint64_t seed : {1, 2}) {
        const auto random = test::random_bytes(k_frame_bytes, seed);
        const auto text = test::compressible_bytes(k_frame_bytes);
        data.insert(data.end(), random.begin(), random.end());
        data.insert(data.end(), text.begin(), text.end());
    }
    EncodeResult result;
    const std::vector<uint8_t> object = encode(compression_of("zstd:3"), data, 100000, result);
    size_t frames = 0;
    const size_t stored = data_frame_size(object, &frames);
    EXPECT_EQ(frames, 4u);
    EXPECT_GT(stored, 2 * k_frame_bytes);
    EXPECT_LT(stored, 2 * k_frame_bytes + k_frame_bytes / 4);
    expect_decodes_to(object, data);
}

// The first data frame of an object: exactly what ZSTD_compress2 makes of the first k_frame_bytes of data at
// level, with the encoder's parameters (content checksum)?
bool first_frame_is_level(const std::vector<uint8_t>& object, const std::vector<uint8_t>& data, int level)
{
    const size_t frame = ZSTD_findFrameCompressedSize(object.data(), object.size());
    std::vector<uint8_t> expected(ZSTD_compressBound(k_frame_bytes));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    const size_t n = ZSTD_compress2(cctx, expected.data(), expected.size(), data.data(), k_frame_bytes);
    ZSTD_freeCCtx(cctx);
    return !ZSTD_isError(frame) && !ZSTD_isError(n) && frame == n &&
        std::equal(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(n), object.begin());
}

TEST(Codec, FramesThatBarelyCompressAreCompressedAtTheFastLevel)
{
    // Like WAL of random bytea rows: 1 KiB of random bytes, then 160 bytes of record headers and text that
    // recur at varying offsets. A level-1 sample saves ~8 %, between the raw threshold (1/32) and 1/8:
    // k_low_saving_level (-1), whatever the configured level. On this data levels -1 and 1 differ.
    static_assert(k_low_saving_level == -1);
    std::vector<uint8_t> text = test::random_bytes(4096, 999);
    for (uint8_t& c : text)
        c = static_cast<uint8_t>('a' + c % 26);
    std::vector<uint8_t> barely;
    for (uint32_t i = 0; barely.size() < 2 * k_frame_bytes; ++i) {
        const auto random = test::random_bytes(1024, i + 1);
        barely.insert(barely.end(), random.begin(), random.end());
        const auto from = text.begin() + static_cast<std::ptrdiff_t>(i * 37 % 3900);
        barely.insert(barely.end(), from, from + 160);
    }
    barely.resize(2 * k_frame_bytes);
    const std::vector<uint8_t> compressible = test::compressible_bytes(2 * k_frame_bytes);
    for (const char* compression : {"zstd:3", "zstd:9"}) {
        EncodeResult result;
        const std::vector<uint8_t> object = encode(compression_of(compression), barely, 100000, result);
        EXPECT_TRUE(first_frame_is_level(object, barely, k_low_saving_level)) << compression;
        EXPECT_FALSE(first_frame_is_level(object, barely, 1)) << compression;
        EXPECT_LT(data_frame_size(object, nullptr), barely.size()) << compression;  // compressed, not raw
        expect_decodes_to(object, barely);
        // Data that compresses well keeps the configured level.
        const int level = compression_of(compression).level;
        const std::vector<uint8_t> well = encode(compression_of(compression), compressible, 100000, result);
        EXPECT_TRUE(first_frame_is_level(well, compressible, level)) << compression;
        EXPECT_FALSE(first_frame_is_level(well, compressible, k_low_saving_level)) << compression;
    }
}

TEST(Codec, NoneAddsOnlyFrameOverhead)
{
    // A header, one raw block header per 128 KiB, an empty last block, then the trailer.
    for (size_t n : {size_t{0}, size_t{1}, k_raw_block_max, k_raw_block_max + 1, size_t{16 * k_mib}}) {
        const std::vector<uint8_t>& data = n == 16 * k_mib ? random_16mib() : test::random_bytes(n, n);
        EncodeResult result;
        const std::vector<uint8_t> object =
            encode(compression_of("none"), data, data.empty() ? 1 : data.size(), result);
        const size_t blocks = (n + k_raw_block_max - 1) / k_raw_block_max;
        ObjectMeta meta;
        meta.name = k_object_name;
        meta.length = n;
        meta.sha256 = sha256_hex(data.data(), data.size());
        meta.xxh3_128 = xxh3_128_hex(data.data(), data.size());
        meta.compression = "none";
        const size_t trailer = encode_trailer(meta).size();
        EXPECT_EQ(object.size(), n + k_raw_frame_header_bytes + k_block_header_bytes * (blocks + 1) + trailer)
            << n << " bytes";
        EXPECT_EQ(data_frame_size(object), object.size() - trailer);
        // The stored bytes are the original, uncompressed, right after the frame and block headers.
        if (n > 0) {
            EXPECT_TRUE(
                std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(std::min(n, k_raw_block_max)),
                    object.begin() + k_raw_frame_header_bytes + k_block_header_bytes));
        }
    }
}

TEST(Codec, PledgedSizeIsRecordedInTheFrame)
{
    const std::vector<uint8_t> data = test::compressible_bytes(300000);
    EncodeResult result;
    const std::vector<uint8_t> object = encode(compression_of("zstd:3"), data, 4096, result, data.size());
    EXPECT_EQ(ZSTD_getFrameContentSize(object.data(), object.size()), data.size());
    std::vector<uint8_t> out;
    ObjectMeta meta;
    WV_ASSERT_OK(decode(object, 1000, out, meta));
    EXPECT_EQ(out, data);
}

TEST(Codec, EncoderSwitchesBetweenCompressions)
{
    const std::vector<uint8_t> data = test::compressible_bytes(200000);
    for (const char* comp : {"zstd:3", "none", "zstd:1", "none", "zstd:19"}) {
        EncodeResult result;
        const std::vector<uint8_t> object = encode(compression_of(comp), data, 10007, result);
        std::vector<uint8_t> out;
        ObjectMeta meta;
        WV_ASSERT_OK(decode(object, 8191, out, meta));
        EXPECT_EQ(out, data) << comp;
        EXPECT_EQ(meta.compression, comp);
    }
}

TEST(Codec, SinkErrorStopsTheEncoder)
{
    Encoder encoder;
    int calls = 0;
    const Status fail = Status::error(Code::io_error, "disk full");
    WV_ASSERT_OK(encoder.begin(
        compression_of("none"),
        [&](const uint8_t*, size_t) {
            ++calls;
            return calls > 1 ? fail : Status::ok();
        },
        std::nullopt));
    const std::vector<uint8_t> data(1000, 1);
    const Status s = encoder.update(data.data(), data.size());
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "disk full");
}

// ---- Damage ----------------------------------------------------------------------------------------------

class CodecDamage : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override
    {
        m_data = std::string(GetParam()) == "none" ? test::random_bytes(1 * k_mib + 77, 3)
                                                   : test::compressible_bytes(1 * k_mib + 77);
        m_object = encode(compression_of(GetParam()), m_data);
        m_frame = data_frame_size(m_object);
        ASSERT_GT(m_frame, 1000u);
        WV_ASSERT_OK(decode(m_object));
    }

    std::vector<uint8_t> m_data;
    std::vector<uint8_t> m_object;
    size_t m_frame = 0;
};

// Each damage test runs under both content checks: the xxh3_128 must catch what the sha256 catches.
TEST_P(CodecDamage, FlippedByteInTheData)
{
    for (ContentCheck check : {ContentCheck::sha256, ContentCheck::xxh3}) {
        for (size_t pos = 100; pos < m_frame; pos += m_frame / 7) {
            std::vector<uint8_t> damaged = m_object;
            damaged[pos] ^= 0xFF;
            const Status s = decode(damaged, check);
            EXPECT_EQ(s.code(), Code::corrupt) << "byte " << pos << ": " << s.message();
        }
        // The last byte of the data frame (zstd: its checksum; none: the last block's payload).
        std::vector<uint8_t> damaged = m_object;
        damaged[m_frame - 1] ^= 0x01;
        EXPECT_EQ(decode(damaged, check).code(), Code::corrupt);
    }
}

TEST_P(CodecDamage, TruncatedInTheData)
{
    for (size_t cut : {size_t{0}, size_t{3}, size_t{100}, m_frame / 2, m_frame - 1}) {
        const std::vector<uint8_t> damaged(m_object.begin(), m_object.begin() + static_cast<std::ptrdiff_t>(cut));
        const Status s = decode(damaged);
        EXPECT_EQ(s.code(), Code::corrupt) << "cut at " << cut << ": " << s.message();
        EXPECT_EQ(decode(damaged, ContentCheck::xxh3).code(), Code::corrupt) << "cut at " << cut;
    }
    const std::vector<uint8_t> half(m_object.begin(), m_object.begin() + static_cast<std::ptrdiff_t>(m_frame / 2));
    EXPECT_EQ(decode(half).message(), "zstd data is truncated");
}

TEST_P(CodecDamage, TruncatedInTheTrailer)
{
    for (size_t cut = m_frame + 1; cut < m_object.size(); cut += 7) {
        const std::vector<uint8_t> damaged(m_object.begin(), m_object.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_EQ(decode(damaged).code(), Code::corrupt) << "cut at " << cut << " of " << m_object.size();
    }
    const std::vector<uint8_t> last_byte_missing(m_object.begin(), m_object.end() - 1);
    EXPECT_EQ(decode(last_byte_missing).code(), Code::corrupt);
}

TEST_P(CodecDamage, MissingTrailer)
{
    const std::vector<uint8_t> data_only(m_object.begin(), m_object.begin() + static_cast<std::ptrdiff_t>(m_frame));
    const Status s = decode(data_only);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "object has no valid metadata trailer: footer magic missing");

    // plain libzstd is content with it: the trailer is ours to check.
    std::vector<uint8_t> plain;
    EXPECT_TRUE(plain_zstd_decompress(data_only, plain));
    EXPECT_EQ(plain, m_data);
}

TEST_P(CodecDamage, TrailerDoesNotMatchTheData)
{
    const std::string sha = sha256_hex(m_data.data(), m_data.size());
    const std::string other_sha = sha256_hex(m_data.data(), m_data.size() - 1);
    auto with_trailer = [&](uint64_t length, const std::string& digest, const std::string& xxh3 = "") {
        ObjectMeta meta;
        meta.name = k_object_name;
        meta.length = length;
        meta.sha256 = digest;
        meta.xxh3_128 = xxh3;
        meta.compression = GetParam();
        std::vector<uint8_t> object(m_object.begin(), m_object.begin() + static_cast<std::ptrdiff_t>(m_frame));
        const std::vector<uint8_t> t = encode_trailer(meta);
        object.insert(object.end(), t.begin(), t.end());
        return object;
    };
    WV_ASSERT_OK(decode(with_trailer(m_data.size(), sha)));  // the control: an exact rebuild is fine

    Status s = decode(with_trailer(m_data.size(), other_sha));
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "content does not match its metadata: " + std::to_string(m_data.size()) + " bytes with sha256 " + sha +
            ", recorded " + std::to_string(m_data.size()) + " bytes with sha256 " + other_sha);

    s = decode(with_trailer(m_data.size() + 1, sha));
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("content does not match its metadata"), std::string::npos) << s.message();

    // The xxh3_128: checked alone by the fast check, and beside the sha256 by the full one.
    const std::string xxh3 = xxh3_128_hex(m_data.data(), m_data.size());
    const std::string other_xxh3 = xxh3_128_hex(m_data.data(), m_data.size() - 1);
    WV_ASSERT_OK(decode(with_trailer(m_data.size(), sha, xxh3), ContentCheck::xxh3));
    WV_ASSERT_OK(decode(with_trailer(m_data.size(), sha, xxh3), ContentCheck::sha256));
    const std::string xxh3_mismatch = "content does not match its metadata: " + std::to_string(m_data.size()) +
        " bytes with xxh3_128 " + xxh3 + ", recorded " + std::to_string(m_data.size()) + " bytes with xxh3_128 " +
        other_xxh3;
    for (ContentCheck check : {ContentCheck::xxh3, ContentCheck::sha256}) {
        s = decode(with_trailer(m_data.size(), sha, other_xxh3), check);
        EXPECT_EQ(s.code(), Code::corrupt);
        EXPECT_EQ(s.message(), xxh3_mismatch);
    }
    s = decode(with_trailer(m_data.size() + 1, sha, xxh3), ContentCheck::xxh3);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("bytes with xxh3_128"), std::string::npos) << s.message();
    // The fast check does not read the sha256; the full one does.
    WV_EXPECT_OK(decode(with_trailer(m_data.size(), other_sha, xxh3), ContentCheck::xxh3));
    EXPECT_EQ(decode(with_trailer(m_data.size(), other_sha, xxh3), ContentCheck::sha256).code(), Code::corrupt);

    // Without xxh3_128 (an older walvault's object) the fast check checks nothing and says so.
    std::vector<uint8_t> out;
    ObjectMeta meta;
    bool needs_sha256 = false;
    s = decode(with_trailer(m_data.size(), sha), 65536, out, meta, ContentCheck::xxh3, &needs_sha256);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "the metadata records no xxh3_128 to check the content against");
    EXPECT_TRUE(needs_sha256);
    s = decode(with_trailer(m_data.size(), sha, xxh3), 65536, out, meta, ContentCheck::xxh3, &needs_sha256);
    WV_EXPECT_OK(s);
    EXPECT_FALSE(needs_sha256);
}

INSTANTIATE_TEST_SUITE_P(Compressions, CodecDamage, ::testing::Values("none", "zstd:1", "zstd:3"));

// Raw blocks carry no checksum of their own: a byte changed inside one is found by the content checksum
// alone, under either check, and the message says which.
TEST(CodecRawDamage, ChangedRawByteIsFoundByTheContentChecksum)
{
    std::vector<uint8_t> damaged = encode(compression_of("none"), test::random_bytes(k_mib + 77, 3));
    damaged[k_raw_frame_header_bytes + k_block_header_bytes + 1000] ^= 0x01;  // in the first block's payload
    Status s = decode(damaged, ContentCheck::sha256);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("bytes with sha256"), std::string::npos) << s.message();
    s = decode(damaged, ContentCheck::xxh3);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("bytes with xxh3_128"), std::string::npos) << s.message();
}

// ---- The stored format ----------------------------------------------------------------------------------

// The exact stored bytes of fixed inputs, as sha256 of each object: any change to how objects are written
// (a refactoring of the encoder, a new stage) must leave them identical. Compressed frames are libzstd's
// output, so the "zstd:*" digests hold for the libzstd they were recorded with (1.5.4); "none" depends on
// walvault alone.
struct FormatCase {
    const char* input;  // "empty", "random" (incompressible), "text" (compressible), "mixed"
    const char* compression;
    size_t frame_bytes;
    const char* sha256;  // of the stored object, trailer included
};

const std::vector<uint8_t>& format_input(const std::string& which)
{
    static const std::vector<uint8_t> empty;
    // Several frames of each size, and a last frame that is not full.
    static const std::vector<uint8_t> random = test::random_bytes(3 * k_mib + 12345, 7);
    static const std::vector<uint8_t> text = test::compressible_bytes(3 * k_mib + 777);
    // Text, random bytes and text again, crossing frame boundaries of either size at odd offsets.
    static const std::vector<uint8_t> mixed = [] {
        std::vector<uint8_t> d = test::compressible_bytes(700 * 1024 + 3);
        const std::vector<uint8_t> r = test::random_bytes(900 * 1024 + 5, 8);
        const std::vector<uint8_t> t = test::compressible_bytes(1100 * 1024 + 9);
        d.insert(d.end(), r.begin(), r.end());
        d.insert(d.end(), t.begin(), t.end());
        return d;
    }();
    if (which == "empty")
        return empty;
    if (which == "random")
        return random;
    if (which == "text")
        return text;
    return mixed;
}

TEST(CodecFormat, StoredBytesAreUnchanged)
{
    const FormatCase cases[] = {
        {"empty", "none", k_frame_bytes, "32ef45c9b95eaeafa8e45b3ca158198497865624934eacd80ef76f2aa18d85ce"},
        {"empty", "none", k_wal_frame_bytes, "32ef45c9b95eaeafa8e45b3ca158198497865624934eacd80ef76f2aa18d85ce"},
        {"empty", "zstd:1", k_frame_bytes, "619f882f8811b7f26bcd5763d6661cb9767020cb303e74ac8ad8d0364797019c"},
        {"empty", "zstd:1", k_wal_frame_bytes, "619f882f8811b7f26bcd5763d6661cb9767020cb303e74ac8ad8d0364797019c"},
        {"empty", "zstd:3", k_frame_bytes, "8ce8cf06e5cc5368b906cb3b6b9e449e82ac8c2d11a5131807b5be2e56afbc9c"},
        {"empty", "zstd:3", k_wal_frame_bytes, "8ce8cf06e5cc5368b906cb3b6b9e449e82ac8c2d11a5131807b5be2e56afbc9c"},
        {"random", "none", k_frame_bytes, "abd8df23d0cea2082603d1804088c74132d4673cec67f31cd413d588c9ce2275"},
        {"random", "none", k_wal_frame_bytes, "abd8df23d0cea2082603d1804088c74132d4673cec67f31cd413d588c9ce2275"},
        {"random", "zstd:1", k_frame_bytes, "0f6182ecb4bb8733423eb8408337fbb3ba70bda687c90264188e35ee42603152"},
        {"random", "zstd:1", k_wal_frame_bytes, "b6fca9064306aa7618b3584e65cd0014eac5eef71da84a0881a1cc942110e477"},
        {"random", "zstd:3", k_frame_bytes, "598f970be5ca54f34a1ceb46105f045bc0a1fd8e8d5f6a9391748684f5879703"},
        {"random", "zstd:3", k_wal_frame_bytes, "5becf5774a8b7e8eb66a6bad1a0066ca876937719906c762ffbaed1b3402f482"},
        {"text", "none", k_frame_bytes, "a57a320d643d3e89d098367b4f736875a43fd8d2baccac373f6de8cce3fb03df"},
        {"text", "none", k_wal_frame_bytes, "a57a320d643d3e89d098367b4f736875a43fd8d2baccac373f6de8cce3fb03df"},
        {"text", "zstd:1", k_frame_bytes, "a6348568f9d269eefd8919a0d249dc0d1e6775927fd2dbf3c493d3493716bc07"},
        {"text", "zstd:1", k_wal_frame_bytes, "7a7333dad68e5dea8f30101d7e6c9a342e358ac44c505c0e8d19316f6ccb0670"},
        {"text", "zstd:3", k_frame_bytes, "eb657cdedb8e142b2511926de2f8e8f63e7ad4b5b906bdc9ac1a03942a7250ba"},
        {"text", "zstd:3", k_wal_frame_bytes, "026fe1e4a4f1c8f361a64059dec18e49e82ac513dc255a9ea5467a3bff10dc9d"},
        {"mixed", "none", k_frame_bytes, "13ab1f60c39d1a1cef796702213cfc5013cedeef4733a22680ba66002daad69f"},
        {"mixed", "none", k_wal_frame_bytes, "13ab1f60c39d1a1cef796702213cfc5013cedeef4733a22680ba66002daad69f"},
        {"mixed", "zstd:1", k_frame_bytes, "eb8a9f483819f55813b09345597db066f7afe0998510d4f513e567ec9276bd8e"},
        {"mixed", "zstd:1", k_wal_frame_bytes, "c2a7afcdbf9daf603e6c8f1b6c220b4a5e25e0eb80720c0be9499c89e165eca2"},
        {"mixed", "zstd:3", k_frame_bytes, "1b099bc4a6d90e213e5c7d3b8dedea2dd327c99cf477eea5657a0b464c8c4a5d"},
        {"mixed", "zstd:3", k_wal_frame_bytes, "7b52ddb1c6be240ec7cf643a41bb8d0dfa8f1e528055b033c172e2d190475229"},
    };
    constexpr size_t k_feed = 256 * 1024;  // encode_file's read size: "none" writes raw blocks per update()
    for (const FormatCase& c : cases) {
        const std::vector<uint8_t>& data = format_input(c.input);
        Encoder encoder(c.frame_bytes);
        std::vector<uint8_t> object;
        EncodeResult result;
        Status s = encoder.begin(compression_of(c.compression), test::vector_sink(object), data.size());
        for (size_t pos = 0; s.is_ok() && pos < data.size(); pos += k_feed)
            s = encoder.update(data.data() + pos, std::min(k_feed, data.size() - pos));
        if (s.is_ok())
            s = encoder.finish(k_object_name, result);
        WV_ASSERT_OK(s);
        EXPECT_EQ(result.bytes_out, object.size());
        EXPECT_EQ(sha256_hex(object.data(), object.size()), c.sha256)
            << c.input << " " << c.compression << " frames of " << c.frame_bytes << " bytes, " << object.size()
            << " stored bytes";
    }
}

// ---- A stage in the slot ----------------------------------------------------------------------------------

// A stand-in for a cipher, to show where one goes: a 4-byte header, then every byte XORed with a key stream
// (xorshift64 from the key). Output leaves in blocks of k_block bytes, the rest at finish(), as a cipher
// that works on blocks or authenticated chunks would. Reversible, and a stream under another key or one
// without the header is refused.
class XorStage : public ByteStage {
public:
    static constexpr size_t k_block = 1000;
    static constexpr uint8_t k_header[4] = {'X', 'O', 'R', '1'};

    XorStage(uint64_t key, bool decrypt)
        : m_key(key)
        , m_decrypt(decrypt)
    {
    }

    void begin(const ByteSink& next) override
    {
        m_next = &next;
        m_state = m_key;
        m_header = 0;
        m_block.clear();
    }

    Status update(const uint8_t* data, size_t len) override
    {
        if (!m_decrypt && m_header == 0) {
            m_header = sizeof(k_header);
            Status s = (*m_next)(k_header, sizeof(k_header));
            if (!s.is_ok())
                return s;
        }
        for (; m_decrypt && m_header < sizeof(k_header) && len > 0; ++data, --len, ++m_header) {
            if (*data != k_header[m_header])
                return Status::error(Code::corrupt, "not a stream of this test stage");
        }
        for (size_t i = 0; i < len; ++i) {
            m_state ^= m_state << 13;
            m_state ^= m_state >> 7;
            m_state ^= m_state << 17;
            m_block.push_back(static_cast<uint8_t>(data[i] ^ m_state));
            if (m_block.size() == k_block) {
                Status s = (*m_next)(m_block.data(), m_block.size());
                m_block.clear();
                if (!s.is_ok())
                    return s;
            }
        }
        return Status::ok();
    }

    Status finish() override
    {
        if (!m_decrypt && m_header == 0) {
            Status s = update(nullptr, 0);
            if (!s.is_ok())
                return s;
        }
        if (m_header < sizeof(k_header))
            return Status::error(Code::corrupt, "test stage stream is truncated");
        Status s = m_block.empty() ? Status::ok() : (*m_next)(m_block.data(), m_block.size());
        m_block.clear();
        return s;
    }

private:
    uint64_t m_key;
    bool m_decrypt;
    const ByteSink* m_next = nullptr;
    uint64_t m_state = 0;
    size_t m_header = 0;  // header bytes written or checked
    std::vector<uint8_t> m_block;
};

// Decodes object through a decoder with stage (nullptr: none) in its slot, fed in pieces of 65536 bytes.
Status decode_through(ByteStage* stage, const std::vector<uint8_t>& object, std::vector<uint8_t>& out, ObjectMeta& meta)
{
    Decoder decoder;
    decoder.set_stage(stage);
    decoder.begin(test::vector_sink(out));
    constexpr size_t k_piece = 65536;
    for (size_t pos = 0; pos < object.size(); pos += k_piece) {
        Status s = decoder.update(object.data() + pos, std::min(k_piece, object.size() - pos));
        if (!s.is_ok())
            return s;
    }
    return decoder.finish(meta);
}

TEST(CodecStage, ACipherStageRoundTripsAFileAndAPlainDecoderRefusesItsBytes)
{
    TempDir dir;
    std::vector<uint8_t> data = test::compressible_bytes(2 * k_mib + 3);
    const std::vector<uint8_t> random = test::random_bytes(k_mib + 11, 5);
    data.insert(data.end(), random.begin(), random.end());
    test::write_file(dir / "seg", data);
    for (const char* comp : {"none", "zstd:3"}) {
        SCOPED_TRACE(comp);
        // The plain object, and the object with the test cipher in the encoder's slot, from one encoder.
        Encoder encoder(k_wal_frame_bytes);
        std::vector<uint8_t> plain;
        EncodeResult plain_result;
        WV_ASSERT_OK(encode_file(
            encoder, compression_of(comp), dir / "seg", k_object_name, test::vector_sink(plain), plain_result));
        XorStage cipher(0x5eed, false);
        encoder.set_stage(&cipher);
        std::vector<uint8_t> stored;
        EncodeResult result;
        WV_ASSERT_OK(
            encode_file(encoder, compression_of(comp), dir / "seg", k_object_name, test::vector_sink(stored), result));
        EXPECT_EQ(result.bytes_in, data.size());
        EXPECT_EQ(result.bytes_out, stored.size());
        EXPECT_EQ(result.sha256, plain_result.sha256);
        EXPECT_EQ(result.xxh3_128, plain_result.xxh3_128);
        // The stage transformed the whole stream, trailer included: same length plus its header, other bytes.
        ASSERT_EQ(stored.size(), plain.size() + sizeof(XorStage::k_header));
        EXPECT_TRUE(std::equal(std::begin(XorStage::k_header), std::end(XorStage::k_header), stored.begin()));
        size_t same = 0;
        for (size_t i = 0; i < plain.size(); ++i)
            same += stored[i + sizeof(XorStage::k_header)] == plain[i] ? 1 : 0;
        EXPECT_LT(same, plain.size() / 100) << "bytes left as they were";
        ObjectMeta meta;
        EXPECT_EQ(parse_trailer(stored.data(), stored.size(), meta).code(), Code::corrupt);

        // Through the inverse stage: the original, checked against the trailer.
        XorStage decipher(0x5eed, true);
        std::vector<uint8_t> out;
        WV_ASSERT_OK(decode_through(&decipher, stored, out, meta));
        EXPECT_TRUE(out == data) << out.size() << " bytes of " << data.size();
        EXPECT_EQ(meta.name, k_object_name);
        EXPECT_EQ(meta.length, data.size());
        EXPECT_EQ(meta.compression, compression_of(comp).to_string());

        // A plain decoder refuses the stored bytes with a Status, and so does the inverse stage under another key.
        out.clear();
        Status s = decode_through(nullptr, stored, out, meta);
        EXPECT_EQ(s.code(), Code::corrupt) << s.message();
        EXPECT_EQ(s.message().rfind("zstd data is corrupt: ", 0), 0u) << s.message();
        XorStage wrong_key(0x5eee, true);
        out.clear();
        s = decode_through(&wrong_key, stored, out, meta);
        EXPECT_EQ(s.code(), Code::corrupt) << s.message();
        // The inverse stage refuses a plain object (no header), and a stream cut inside its header.
        XorStage decipher_plain(0x5eed, true);
        out.clear();
        EXPECT_EQ(decode_through(&decipher_plain, plain, out, meta).code(), Code::corrupt);
        const std::vector<uint8_t> cut(stored.begin(), stored.begin() + 2);
        out.clear();
        s = decode_through(&decipher, cut, out, meta);
        EXPECT_EQ(s.code(), Code::corrupt);
        EXPECT_EQ(s.message(), "test stage stream is truncated");

        // Without its stage again, the encoder writes the plain object.
        encoder.set_stage(nullptr);
        std::vector<uint8_t> again;
        WV_ASSERT_OK(
            encode_file(encoder, compression_of(comp), dir / "seg", k_object_name, test::vector_sink(again), result));
        EXPECT_TRUE(again == plain);
    }
}

// An empty file through a stage: its output (header, empty frame, trailer) leaves at finish().
TEST(CodecStage, AnEmptyObjectThroughAStage)
{
    Encoder encoder;
    XorStage cipher(7, false);
    encoder.set_stage(&cipher);
    std::vector<uint8_t> stored;
    EncodeResult result;
    WV_ASSERT_OK(encoder.begin(compression_of("zstd:3"), test::vector_sink(stored), 0));
    WV_ASSERT_OK(encoder.finish("00000002.history", result));
    EXPECT_EQ(result.bytes_out, stored.size());
    XorStage decipher(7, true);
    std::vector<uint8_t> out;
    ObjectMeta meta;
    WV_ASSERT_OK(decode_through(&decipher, stored, out, meta));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(meta.name, "00000002.history");
    EXPECT_EQ(meta.length, 0u);
}

// The sink's error comes back through the stage and stops the encoder.
TEST(CodecStage, SinkErrorThroughAStage)
{
    Encoder encoder;
    XorStage cipher(7, false);
    encoder.set_stage(&cipher);
    const std::vector<uint8_t> data = test::random_bytes(3 * k_mib, 9);
    size_t calls = 0;
    Status s = encoder.begin(
        compression_of("zstd:1"),
        [&](const uint8_t*, size_t) { return ++calls < 3 ? Status::ok() : Status::error(Code::io_error, "disk full"); },
        std::nullopt);
    for (size_t pos = 0; s.is_ok() && pos < data.size(); pos += 65536)
        s = encoder.update(data.data() + pos, 65536);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "disk full");
}

// ---- Files ---------------------------------------------------------------------------------------------

// ---- PrefixEncoder: a growing buffer, encoded again and again ------------------------------------------

TEST(PrefixEncoder, EveryPrefixDecodesAndIsTheEncodersObject)
{
    // Compressible, then incompressible (frames of raw blocks), across several frames.
    std::vector<uint8_t> data(compressible_16mib().begin(), compressible_16mib().begin() + 2 * k_mib);
    data.insert(data.end(), random_16mib().begin(), random_16mib().begin() + 2 * k_mib + 777);
    const size_t f = k_wal_frame_bytes;
    const std::vector<size_t> lengths = {
        0, 1, 1000, f - 1, f, f + 1, 2 * f + 12345, 4 * f, 4 * f + 5, 6 * f + 3, data.size()};
    for (const char* which : {"zstd:3", "none"}) {
        SCOPED_TRACE(which);
        const Compression c = compression_of(which);
        PrefixEncoder prefix;
        Encoder whole(k_wal_frame_bytes);
        for (const size_t len : lengths) {
            SCOPED_TRACE("length " + std::to_string(len));
            std::vector<uint8_t> object;
            EncodeResult result;
            // As walvault receive names them: the trailer's name changes with the length, the buffer does not.
            const std::string name = "000000010000000000000003." + std::to_string(len) + ".stream";
            WV_ASSERT_OK(prefix.encode(c, "000000010000000000000003", name, data.data(), len, object, result));
            const std::vector<uint8_t> original(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(len));
            const ObjectMeta meta = expect_decodes_to(object, original);
            EXPECT_EQ(meta.name, name);
            EXPECT_EQ(meta.length, len);
            EXPECT_EQ(meta.compression, c.to_string());
            EXPECT_EQ(result.bytes_in, len);
            EXPECT_EQ(result.bytes_out, object.size());
            EXPECT_EQ(result.sha256, meta.sha256);
            EXPECT_EQ(result.xxh3_128, meta.xxh3_128);
            if (c.kind == Compression::Kind::zstd) {
                // The same frames as the Encoder cuts: the same bytes.
                std::vector<uint8_t> expected;
                EncodeResult r;
                WV_ASSERT_OK(whole.begin(c, test::vector_sink(expected), std::nullopt));
                WV_ASSERT_OK(whole.update(original.data(), original.size()));
                WV_ASSERT_OK(whole.finish(name, r));
                EXPECT_TRUE(object == expected) << object.size() << " bytes, the Encoder's " << expected.size();
            }
        }
    }
}

TEST(PrefixEncoder, AnotherBufferOrAShorterOneStartsOver)
{
    const std::vector<uint8_t>& a = compressible_16mib();
    std::vector<uint8_t> b = a;
    b[10] ^= 0xff;  // in the first frame
    const Compression c = compression_of("zstd:3");
    PrefixEncoder prefix;
    std::vector<uint8_t> object;
    EncodeResult result;
    WV_ASSERT_OK(prefix.encode(c, "seg-a", "name", a.data(), 3 * k_wal_frame_bytes, object, result));
    // Another buffer under another name: nothing of the first one's frames is kept.
    WV_ASSERT_OK(prefix.encode(c, "seg-b", "name", b.data(), 3 * k_wal_frame_bytes + 10, object, result));
    expect_decodes_to(object, std::vector<uint8_t>(b.begin(), b.begin() + 3 * k_wal_frame_bytes + 10));
    // Shorter than what was kept: starts over from the bytes given.
    WV_ASSERT_OK(prefix.encode(c, "seg-b", "name", a.data(), k_wal_frame_bytes / 2, object, result));
    expect_decodes_to(object, std::vector<uint8_t>(a.begin(), a.begin() + k_wal_frame_bytes / 2));
    // After reset(), the same name starts over too.
    prefix.reset();
    WV_ASSERT_OK(prefix.encode(c, "seg-b", "name", b.data(), 2 * k_wal_frame_bytes, object, result));
    expect_decodes_to(object, std::vector<uint8_t>(b.begin(), b.begin() + 2 * k_wal_frame_bytes));
}

TEST(EncodeFile, EqualsEncodingTheBytes)
{
    TempDir dir;
    const std::vector<uint8_t> data = [] {
        std::vector<uint8_t> d = test::compressible_bytes(3 * k_mib);
        const std::vector<uint8_t> r = test::random_bytes(k_mib + 17, 8);
        d.insert(d.end(), r.begin(), r.end());
        return d;
    }();
    test::write_file(dir / "seg", data);
    for (const char* comp : {"none", "zstd:1", "zstd:3"}) {
        Encoder encoder;
        std::vector<uint8_t> from_file;
        EncodeResult file_result;
        WV_ASSERT_OK(encode_file(
            encoder, compression_of(comp), dir / "seg", k_object_name, test::vector_sink(from_file), file_result));
        EncodeResult bytes_result;
        const std::vector<uint8_t> from_bytes =
            encode(compression_of(comp), data, data.size(), bytes_result, data.size());
        EXPECT_TRUE(from_file == from_bytes) << comp;
        EXPECT_EQ(file_result.bytes_in, data.size());
        EXPECT_EQ(file_result.bytes_out, from_file.size());
        EXPECT_EQ(file_result.sha256, sha256_hex(data.data(), data.size()));
        std::vector<uint8_t> out;
        ObjectMeta meta;
        WV_ASSERT_OK(decode(from_file, 1 << 16, out, meta));
        EXPECT_TRUE(out == data) << comp;
    }
}

TEST(EncodeFile, EmptyAndMissingFiles)
{
    TempDir dir;
    test::write_file(dir / "empty", std::string());
    Encoder encoder;
    std::vector<uint8_t> object;
    EncodeResult result;
    WV_ASSERT_OK(encode_file(
        encoder, compression_of("zstd:3"), dir / "empty", "00000002.history", test::vector_sink(object), result));
    EXPECT_EQ(result.bytes_in, 0u);
    std::vector<uint8_t> out;
    ObjectMeta meta;
    WV_ASSERT_OK(decode(object, 5, out, meta));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(meta.name, "00000002.history");

    object.clear();
    const Status s = encode_file(
        encoder, compression_of("zstd:3"), dir / "missing", k_object_name, test::vector_sink(object), result);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message().rfind("could not open file \"" + (dir / "missing") + "\": ", 0), 0u) << s.message();
    EXPECT_TRUE(object.empty());
}

}  // namespace
}  // namespace walvault
