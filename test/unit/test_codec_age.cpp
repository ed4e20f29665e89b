// Unit tests for core/codec/age: bech32 keys, identity files, and the age stages against files the age CLI
// wrote (test/unit/data/age/README.md says how), damaged files, and the age CLI reading what we write.
#include "core/codec/age.h"

#include "core/codec/codec.h"
#include "test/unit/test_support.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

constexpr const char* k_data = "test/unit/data/age/";
// The recipients of key1.txt and key2.txt, as age-keygen printed them.
constexpr const char* k_recipient1 = "age1ercrvkx5u2jzqhyrkmyqsr04amdx2kcffpvyg53fr0nh7q7uyeas99ry8g";
constexpr const char* k_recipient2 = "age1qkl76vf23t57v7lwrjq5c3qjtg7c5vktjmjsyyfnwu3ckv0g39sqy828tf";
constexpr const char* k_passphrase = "correct horse battery staple";
constexpr size_t k_chunk = k_age_chunk_bytes;
constexpr size_t k_sealed = k_age_chunk_bytes + k_age_tag_bytes;

// `seq 1 30000`, the plaintext of the vectors (cut with head -c for the shorter ones).
std::vector<uint8_t> seq_text(size_t limit = SIZE_MAX)
{
    std::string s;
    for (int i = 1; i <= 30000; ++i)
        s += std::to_string(i) + "\n";
    if (s.size() > limit)
        s.resize(limit);
    return {s.begin(), s.end()};
}

std::vector<uint8_t> vector_file(const std::string& name)
{
    return test::read_file(std::string(k_data) + name);
}

std::vector<AgeIdentity> identities_of(const std::string& file)
{
    const std::vector<uint8_t> bytes = vector_file(file);
    std::vector<AgeIdentity> ids;
    const Status s = parse_age_identities(std::string(bytes.begin(), bytes.end()), ids);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return ids;
}

// key1 and key2, the recipients of every vector.
std::vector<AgeIdentity> both_identities()
{
    std::vector<AgeIdentity> ids = identities_of("key1.txt");
    ids.push_back(identities_of("key2.txt").at(0));
    return ids;
}

std::vector<AgeRecipient> recipients_of(const std::string& list)
{
    std::vector<AgeRecipient> out;
    const Status s = parse_age_recipients(list, out);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return out;
}

// Runs bytes through a stage in slices of `slice` bytes.
Status run_stage(ByteStage& stage, const std::vector<uint8_t>& in, std::vector<uint8_t>& out, size_t slice = 70000)
{
    out.clear();
    stage.begin(test::vector_sink(out));
    for (size_t pos = 0; pos < in.size(); pos += slice) {
        if (Status s = stage.update(in.data() + pos, std::min(slice, in.size() - pos)); !s.is_ok())
            return s;
    }
    return stage.finish();
}

Status decrypt(const std::vector<uint8_t>& in, std::vector<AgeIdentity> ids, std::vector<uint8_t>& out)
{
    AgeDecryptStage stage(std::move(ids));
    return run_stage(stage, in, out);
}

std::vector<uint8_t> encrypt(const std::vector<uint8_t>& in, const std::string& recipients)
{
    AgeEncryptStage stage(recipients_of(recipients));
    std::vector<uint8_t> out;
    const Status s = run_stage(stage, in, out);
    EXPECT_TRUE(s.is_ok()) << s.message();
    return out;
}

// Length of the header (through the MAC line's LF) of an age file.
size_t header_length(const std::vector<uint8_t>& file)
{
    const std::string text(
        file.begin(), file.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(file.size(), 4096)));
    const size_t mark = text.find("\n--- ");
    return text.find('\n', mark + 1) + 1;
}

// Runs a shell command; its exit status.
int shell(const std::string& command)
{
    return std::system(command.c_str());
}

// ---- bech32 ----------------------------------------------------------------------------------------------

TEST(Bech32, Bip173ValidStrings)
{
    for (const char* s : {"A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
             "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"}) {
        std::string hrp;
        std::vector<uint8_t> data;
        SCOPED_TRACE(s);
        EXPECT_TRUE(bech32_decode(s, hrp, data).is_ok());
    }
}

TEST(Bech32, ChecksumCaseAndAlphabetErrors)
{
    struct Case {
        const char* text;
        const char* message;
    };
    const std::string r1 = k_recipient1;
    std::string flipped = r1;
    flipped[10] = flipped[10] == 'q' ? 'p' : 'q';
    std::string mixed = r1;
    mixed[5] = static_cast<char>(std::toupper(mixed[5]));
    const std::string cases[][2] = {
        {flipped, "bech32 checksum mismatch (a mistyped or truncated key)"},
        {r1.substr(0, r1.size() - 1), "bech32 checksum mismatch (a mistyped or truncated key)"},
        {mixed, "not a bech32 string: it mixes upper and lower case"},
        {r1.substr(0, 10) + "b" + r1.substr(11), "not a bech32 string: it has a character outside the alphabet"},
        {"1nwldj5", "not a bech32 string: no separator or too short"},
        {"A1G7SGD8", "bech32 checksum mismatch (a mistyped or truncated key)"},  // BIP173: checksum of upper-case hrp
        {"age1", "not a bech32 string: no separator or too short"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c[0]);
        std::string hrp;
        std::vector<uint8_t> data;
        const Status s = bech32_decode(c[0], hrp, data);
        EXPECT_EQ(s.code(), Code::invalid);
        EXPECT_EQ(s.message(), c[1]);
    }
}

TEST(AgeKeys, IdentityGivesTheRecipientAgeKeygenPrinted)
{
    const std::vector<AgeIdentity> one = identities_of("key1.txt");
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(age_recipient_of(one[0]).text, k_recipient1);
    // and the identity prints back as the file holds it
    const std::vector<uint8_t> file = vector_file("key1.txt");
    EXPECT_NE(std::string(file.begin(), file.end()).find(age_identity_text(one[0]) + "\n"), std::string::npos);
    AgeRecipient r;
    WV_ASSERT_OK(parse_age_recipient(k_recipient2, r));
    EXPECT_EQ(r.text, k_recipient2);
    EXPECT_EQ(age_recipient_fingerprint(r).size(), 16u);
    EXPECT_NE(age_recipient_fingerprint(r), age_recipient_fingerprint(age_recipient_of(one[0])));
}

TEST(AgeKeys, RecipientLists)
{
    EXPECT_TRUE(recipients_of("").empty());
    EXPECT_TRUE(recipients_of("  ").empty());
    const std::vector<AgeRecipient> two = recipients_of(std::string(k_recipient1) + " , " + k_recipient2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1].text, k_recipient2);
    EXPECT_EQ(recipients_of(std::string(k_recipient1) + "," + k_recipient1).size(), 1u);  // duplicates once

    std::vector<AgeRecipient> out;
    Status s = parse_age_recipients(std::string(k_recipient1) + ",," + k_recipient2, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "empty item in the list of age recipients");
    // An identity where a recipient belongs: refused without echoing the secret.
    const std::vector<uint8_t> key = vector_file("key1.txt");
    const std::string secret = age_identity_text(identities_of("key1.txt")[0]);
    s = parse_age_recipients(secret, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "an age identity (secret key) was given where a recipient was expected");
    EXPECT_EQ(s.hint().find(secret), std::string::npos);
    // A bech32 string of another kind.
    s = parse_age_recipients("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(),
        "invalid age recipient \"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw\": not an X25519 recipient "
        "(\"age1...\")");
}

TEST(AgeKeys, IdentityFilesWithCommentsAndSeveralIdentities)
{
    const std::vector<AgeIdentity> ids = identities_of("identities.txt");
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(age_recipient_of(ids[1]).text, k_recipient2);

    const std::string secret = age_identity_text(ids[0]);
    std::string damaged = secret;
    damaged[20] = damaged[20] == 'Q' ? 'P' : 'Q';
    struct Case {
        std::string contents;
        std::string message;
    };
    const Case cases[] = {
        {"# comment\n\n" + damaged + "\n",
            "line 3 of the identity file: bech32 checksum mismatch (a mistyped or truncated key)"},
        {"# only a comment\n\n", "the identity file holds no identity"},
        {"", "the identity file holds no identity"},
        {secret + "\n" + std::string(k_recipient1) + "\n",
            "line 2 of the identity file: not an X25519 identity (\"AGE-SECRET-KEY-1...\")"},
        {"AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
            "line 1 of the identity file: bech32 checksum mismatch (a mistyped or truncated key)"},
        {"age-encryption.org/v1\n-> scrypt x 18\n", "the identity file is itself an encrypted age file"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.contents);
        std::vector<AgeIdentity> out;
        const Status s = parse_age_identities(c.contents, out);
        EXPECT_EQ(s.code(), Code::invalid);
        EXPECT_EQ(s.message(), c.message);
        EXPECT_EQ(s.message().find(damaged.substr(15, 20)), std::string::npos) << "key material in the message";
    }
    // CRLF line ends and surrounding spaces are accepted.
    std::vector<AgeIdentity> out;
    WV_ASSERT_OK(parse_age_identities("  " + secret + " \r\n", out));
    EXPECT_EQ(out.size(), 1u);
}

TEST(AgeKeys, IdentityFileThatOthersCanReadIsRefused)
{
    TempDir dir;
    const std::vector<uint8_t> key = vector_file("key1.txt");
    test::write_file(dir / "key.txt", key);
    ASSERT_EQ(::chmod((dir / "key.txt").c_str(), 0640), 0);
    std::vector<AgeIdentity> ids;
    Status s = read_age_identity_file(dir / "key.txt", ids);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(
        s.message(), "identity file \"" + (dir / "key.txt") + "\" is accessible by its group or others (mode 640)");
    EXPECT_EQ(s.hint(), "Run: chmod 600 \"" + (dir / "key.txt") + "\"; a secret key that others can read is refused.");
    ASSERT_EQ(::chmod((dir / "key.txt").c_str(), 0600), 0);
    WV_ASSERT_OK(read_age_identity_file(dir / "key.txt", ids));
    EXPECT_EQ(age_recipient_of(ids.at(0)).text, k_recipient1);
    s = read_age_identity_file(dir / "missing.txt", ids);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "could not open identity file \"" + (dir / "missing.txt") + "\": No such file or directory");
    test::write_file(dir / "bad.txt", "garbage\n");
    ASSERT_EQ(::chmod((dir / "bad.txt").c_str(), 0600), 0);
    s = read_age_identity_file(dir / "bad.txt", ids);
    EXPECT_EQ(s.message(),
        "identity file \"" + (dir / "bad.txt") +
            "\": line 1 of the identity file: not a bech32 string: no separator or "
            "too short");
}

// ---- files the age CLI wrote -------------------------------------------------------------------------------

TEST(AgeDecrypt, FilesTheAgeCliWrote)
{
    struct Case {
        const char* file;
        size_t plain_length;
        const char* identities;
        size_t matched;
    };
    const Case cases[] = {
        {"multi_recipients.age", SIZE_MAX, "identities.txt", 1},  // 3 chunks, 2 recipients; key2 is 2nd in the file
        {"multi_recipients.age", SIZE_MAX, "key1.txt", 0},
        {"two_full_chunks.age", 2 * k_chunk, "key1.txt", 0},                              // the final chunk is full
        {"one_full_chunk.age", k_chunk, "key1.txt", 0}, {"empty.age", 0, "key1.txt", 0},  // one empty final chunk
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.file) + " with " + c.identities);
        const std::vector<uint8_t> file = vector_file(c.file);
        for (size_t slice : {size_t{1} << 20, k_sealed, size_t{4093}}) {
            AgeDecryptStage stage(identities_of(c.identities));
            std::vector<uint8_t> out;
            WV_ASSERT_OK(run_stage(stage, file, out, slice));
            EXPECT_TRUE(out == seq_text(c.plain_length)) << out.size();
            EXPECT_EQ(stage.matched_identity(), c.matched);
        }
    }
}

TEST(AgeDecrypt, PassphraseFileThroughScrypt)
{
    std::vector<AgeIdentity> ids;
    ids.push_back(age_passphrase_identity(k_passphrase));
    std::vector<uint8_t> out;
    WV_ASSERT_OK(decrypt(vector_file("passphrase.age"), ids, out));
    EXPECT_TRUE(out == seq_text(k_chunk));

    std::vector<AgeIdentity> wrong;
    wrong.push_back(age_passphrase_identity("incorrect horse"));
    wrong.push_back(identities_of("key1.txt")[0]);
    const Status s = decrypt(vector_file("passphrase.age"), wrong, out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "no identity in the identity file matches this encrypted object");
}

TEST(AgeDecrypt, NoMatchingIdentity)
{
    std::vector<uint8_t> out;
    const Status s = decrypt(vector_file("two_full_chunks.age"), identities_of("key3.txt"), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "no identity in the identity file matches this encrypted object");
    EXPECT_EQ(s.hint(),
        "The object was encrypted to other recipients: add the identity of one of them to the identity file "
        "(encryption_identity_file).");
    EXPECT_TRUE(out.empty());
}

// Damaged files: every one fails as corrupt, with the message saying what is wrong.
TEST(AgeDecrypt, DamagedFilesAreCorrupt)
{
    const std::vector<uint8_t> multi = vector_file("multi_recipients.age");
    const std::vector<uint8_t> two = vector_file("two_full_chunks.age");
    const std::vector<uint8_t> one = vector_file("one_full_chunk.age");
    const size_t h = header_length(multi);
    const size_t h2 = header_length(two);
    const size_t h1 = header_length(one);
    auto changed = [](std::vector<uint8_t> v, size_t at, uint8_t x) {
        v.at(at) ^= x;
        return v;
    };
    auto cut = [](const std::vector<uint8_t>& v, size_t len) {
        return std::vector<uint8_t>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(len));
    };
    std::vector<uint8_t> swapped = multi;  // chunks 0 and 1 exchanged
    std::swap_ranges(swapped.begin() + static_cast<std::ptrdiff_t>(h + 16),
        swapped.begin() + static_cast<std::ptrdiff_t>(h + 16 + k_sealed),
        swapped.begin() + static_cast<std::ptrdiff_t>(h + 16 + k_sealed));
    std::vector<uint8_t> extra_stanza(multi.begin(), multi.begin() + static_cast<std::ptrdiff_t>(h - 48));
    const std::string unknown = "-> example.com/other arg\nAAAA\n";
    extra_stanza.insert(extra_stanza.end(), unknown.begin(), unknown.end());
    extra_stanza.insert(extra_stanza.end(), multi.begin() + static_cast<std::ptrdiff_t>(h - 48), multi.end());
    std::vector<uint8_t> mac_changed = multi;
    mac_changed[h - 2] = mac_changed[h - 2] == 'A' ? 'E' : 'A';  // a different MAC, still canonical base64
    std::vector<uint8_t> after_final = one;
    after_final.insert(after_final.end(), one.end() - 100, one.end());
    std::vector<uint8_t> one_more_byte = multi;
    one_more_byte.push_back(0);
    const std::vector<uint8_t> plain = test::to_bytes("(\xb5/\xfd plain zstd");

    struct Case {
        const char* what;
        std::vector<uint8_t> bytes;
        const char* message;
    };
    const Case cases[] = {
        {"header MAC changed", mac_changed, "age file: header MAC mismatch (the header was altered)"},
        {"stanza added", extra_stanza, "age file: header MAC mismatch (the header was altered)"},
        {"byte of chunk 1 flipped", changed(multi, h + 16 + k_sealed + 100, 0x01),
            "age file: chunk 1 fails authentication (damaged, reordered or from another file)"},
        {"tag of the final chunk flipped", changed(multi, multi.size() - 1, 0x80),
            "age file: chunk 2 fails authentication (damaged, truncated, reordered or from another file)"},
        {"nonce flipped", changed(multi, h + 3, 0x10),
            "age file: chunk 0 fails authentication (damaged, reordered or from another file)"},
        {"chunks reordered", swapped,
            "age file: chunk 0 fails authentication (damaged, reordered or from another file)"},
        {"cut at a chunk boundary", cut(two, h2 + 16 + k_sealed),
            "age file: truncated: the final chunk is missing (the file ends after chunk 0)"},
        {"cut after the nonce", cut(two, h2 + 16), "age file: truncated: the final chunk is missing"},
        {"cut inside the nonce", cut(two, h2 + 5), "age file: truncated: the payload nonce is incomplete"},
        {"cut inside a chunk", cut(multi, h + 16 + k_sealed + 100),
            "age file: chunk 1 fails authentication (damaged, truncated, reordered or from another file)"},
        {"cut inside a tag", cut(two, h2 + 16 + 7), "age file: truncated chunk 0"},
        {"cut inside the header", cut(multi, h - 10), "age file: truncated header"},
        {"bytes after a full final chunk", after_final, "age file: data after the final chunk"},
        {"one byte more", one_more_byte,
            "age file: chunk 2 fails authentication (damaged, truncated, reordered or from another file)"},
        {"empty", {}, "age file: empty file"},
        {"not encrypted", plain, "not an age file: the stored bytes are not encrypted"},
        {"version 2", changed(multi, 20, '1' ^ '2'),
            "age file: unsupported version line (walvault reads age-encryption.org/v1)"},
    };
    (void)h1;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        std::vector<uint8_t> out;
        const Status s = decrypt(c.bytes, both_identities(), out);
        EXPECT_EQ(s.code(), Code::corrupt);
        EXPECT_EQ(s.message(), c.message);
    }
}

// ---- what we write --------------------------------------------------------------------------------------

// The sizes around the chunk boundaries: one final chunk, full when the input is a multiple of 64 KiB, empty
// only when the input is.
TEST(AgeEncrypt, RoundTripAndChunkLayout)
{
    const std::string both = std::string(k_recipient1) + "," + k_recipient2;
    for (size_t n : {size_t{0}, size_t{1}, k_chunk - 1, k_chunk, k_chunk + 1, 2 * k_chunk, 200000 + size_t{0}}) {
        SCOPED_TRACE(n);
        const std::vector<uint8_t> plain = test::random_bytes(n, n);
        const std::vector<uint8_t> file = encrypt(plain, both);
        const size_t chunks = n == 0 ? 1 : (n + k_chunk - 1) / k_chunk;
        const size_t h = header_length(file);
        EXPECT_EQ(file.size(), h + 16 + n + chunks * k_age_tag_bytes);
        const std::string header(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(h));
        EXPECT_TRUE(header.starts_with("age-encryption.org/v1\n-> X25519 ")) << header;
        // version, 2 × (args, body), walvault's note (args, empty body), MAC
        EXPECT_EQ(std::count(header.begin(), header.end(), '\n'), 8);
        for (const char* key : {"key1.txt", "key2.txt"}) {
            std::vector<uint8_t> out;
            WV_ASSERT_OK(decrypt(file, identities_of(key), out));
            EXPECT_TRUE(out == plain);
        }
    }
    // A fresh file key and nonce each time.
    const std::vector<uint8_t> plain = seq_text(1000);
    EXPECT_NE(encrypt(plain, k_recipient1), encrypt(plain, k_recipient1));
}

// The note: the recipients' fingerprints always, the content when set_content() gave it (for one object).
TEST(AgeEncrypt, NoteNamesRecipientsAndContent)
{
    AgeRecipient r1, r2;
    WV_ASSERT_OK(parse_age_recipient(k_recipient1, r1));
    WV_ASSERT_OK(parse_age_recipient(k_recipient2, r2));
    std::vector<std::string> fps{age_recipient_fingerprint(r1), age_recipient_fingerprint(r2)};
    std::sort(fps.begin(), fps.end());
    AgeEncryptStage stage({r2, r1});
    stage.set_content(1234, "00112233445566778899aabbccddeeff");
    for (bool with_content : {true, false}) {
        SCOPED_TRACE(with_content);
        std::vector<uint8_t> file;
        stage.begin(test::vector_sink(file));
        const std::vector<uint8_t> plain = seq_text(100);
        WV_ASSERT_OK(stage.update(plain.data(), plain.size()));
        WV_ASSERT_OK(stage.finish());
        AgeNote note;
        bool found = false;
        WV_ASSERT_OK(read_age_note(file.data(), file.size(), note, found));
        EXPECT_TRUE(found);
        EXPECT_EQ(note.recipients, fps);
        EXPECT_EQ(note.has_content, with_content);
        if (with_content) {
            EXPECT_EQ(note.length, 1234U);
            EXPECT_EQ(note.xxh3_128, "00112233445566778899aabbccddeeff");
        }
        std::vector<uint8_t> out;
        WV_ASSERT_OK(decrypt(file, identities_of("key1.txt"), out));
        EXPECT_TRUE(out == plain);
    }
    // A file the age CLI wrote has no note; bytes that are not age are corrupt.
    const std::vector<uint8_t> theirs = test::read_file(std::string(k_data) + "multi_recipients.age");
    AgeNote note;
    bool found = true;
    WV_ASSERT_OK(read_age_note(theirs.data(), theirs.size(), note, found));
    EXPECT_FALSE(found);
    const std::vector<uint8_t> plain = seq_text(100);
    EXPECT_EQ(read_age_note(plain.data(), plain.size(), note, found).code(), Code::corrupt);
}

TEST(AgeEncrypt, NoRecipients)
{
    AgeEncryptStage stage({});
    std::vector<uint8_t> out;
    const Status s = run_stage(stage, seq_text(10), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "age encryption needs at least one recipient");
    EXPECT_TRUE(out.empty());
}

TEST(AgeEncrypt, GeneratedIdentityRoundTrips)
{
    AgeIdentity id;
    WV_ASSERT_OK(age_generate_identity(id));
    std::vector<AgeIdentity> parsed;
    WV_ASSERT_OK(parse_age_identities(age_identity_text(id) + "\n", parsed));
    EXPECT_EQ(age_recipient_of(parsed[0]).text, age_recipient_of(id).text);
    std::vector<uint8_t> out;
    WV_ASSERT_OK(decrypt(encrypt(seq_text(), age_recipient_of(id).text), parsed, out));
    EXPECT_TRUE(out == seq_text());
}

// Both ways through the real age binary (Debian's `age`, installed by scripts/deps.sh).
TEST(AgeEncrypt, TheAgeCliReadsWhatWeWriteAndWeReadWhatItWrites)
{
    TempDir dir;
    for (size_t n : {size_t{0}, k_chunk, 150000 + size_t{0}}) {
        SCOPED_TRACE(n);
        const std::vector<uint8_t> plain = test::random_bytes(n, 77 + n);
        test::write_file(dir / "ours.age", encrypt(plain, std::string(k_recipient2) + "," + k_recipient1));
        ASSERT_EQ(
            shell("age -d -i " + std::string(k_data) + "key1.txt " + (dir / "ours.age") + " > " + (dir / "out")), 0);
        EXPECT_TRUE(test::read_file(dir / "out") == plain);

        test::write_file(dir / "plain", plain);
        ASSERT_EQ(
            shell("age -e -r " + std::string(k_recipient2) + " -o " + (dir / "theirs.age") + " " + (dir / "plain")), 0);
        std::vector<uint8_t> out;
        WV_ASSERT_OK(decrypt(test::read_file(dir / "theirs.age"), identities_of("identities.txt"), out));
        EXPECT_TRUE(out == plain);
    }
}

// An object through the codec with the stages in its slot: an age file whose plaintext is the plain object, so
// `age -d | zstd -d` gives the original back with stock tools.
TEST(AgeEncrypt, ObjectThroughTheCodecAndStockTools)
{
    TempDir dir;
    const std::vector<uint8_t> data = test::compressible_bytes(3 * 1024 * 1024 + 5);
    test::write_file(dir / "seg", data);
    Encoder encoder(k_wal_frame_bytes);
    AgeEncryptStage cipher(recipients_of(k_recipient1));
    encoder.set_stage(&cipher);
    std::vector<uint8_t> stored;
    EncodeResult result;
    WV_ASSERT_OK(encode_file(
        encoder, Compression{}, dir / "seg", "000000010000000000000003", test::vector_sink(stored), result));
    EXPECT_EQ(result.bytes_out, stored.size());
    EXPECT_TRUE(looks_like_age(stored.data(), stored.size()));
    test::write_file(dir / "obj", stored);
    EXPECT_NE(shell("zstd -q -t " + (dir / "obj") + " 2>/dev/null"), 0);
    ASSERT_EQ(shell("age -d -i " + std::string(k_data) + "key1.txt " + (dir / "obj") + " | zstd -q -d -c > " +
                  (dir / "orig")),
        0);
    EXPECT_TRUE(test::read_file(dir / "orig") == data);

    Decoder decoder;
    AgeDecryptStage decipher(both_identities());
    decoder.set_stage(&decipher);
    std::vector<uint8_t> out;
    decoder.begin(test::vector_sink(out));
    WV_ASSERT_OK(decoder.update(stored.data(), stored.size()));
    ObjectMeta meta;
    WV_ASSERT_OK(decoder.finish(meta));
    EXPECT_TRUE(out == data);
    EXPECT_EQ(meta.name, "000000010000000000000003");
    EXPECT_EQ(meta.sha256, result.sha256);
}

}  // namespace
}  // namespace walvault
