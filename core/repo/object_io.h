// Objects in a repository: reading one from storage through the decoder (core/codec/codec.h), checked
// against its trailer, or reading its trailer alone. The codec knows bytes; this file knows storage.
#pragma once

#include "core/codec/codec.h"
#include "core/common/byte_sink.h"
#include "core/common/status.h"
#include "core/storage/storage.h"

#include <functional>
#include <string>
#include <vector>

namespace walvault {

struct AgeIdentity;
struct AgeNote;
struct AgeRecipient;

// The identities with which this process opens encrypted objects (encryption_identity_file): every reader below
// decrypts an object that is an age file with them, and reads any other object as it is. Set once, before the
// readers start; none (the default): an encrypted object fails as Code::invalid, saying so.
void set_object_identities(std::vector<AgeIdentity> identities);
bool have_object_identities();

// Reads and decodes an object from storage, checking it completely (ContentCheck::sha256); original bytes go
// to out (which may discard them, for a pure check).
Status decode_object(Storage& storage, const std::string& key, const ByteSink& out, ObjectMeta& meta);

// The same under ContentCheck::xxh3, for readers that serve or restore the bytes. An object without xxh3_128
// is read a second time and checked by its sha256: restart() is called first and must discard what out has
// received (truncate the file, reset counters); its error ends the decode.
Status decode_object_fast(Storage& storage, const std::string& key, const ByteSink& out,
    const std::function<Status()>& restart, ObjectMeta& meta);

// The same with the caller's decoder (one per thread, reused: it keeps its buffers from object to object).
Status decode_object_fast(Decoder& decoder, Storage& storage, const std::string& key, const ByteSink& out,
    const std::function<Status()>& restart, ObjectMeta& meta);

// Reads the first bytes of an object: encrypted tells whether it is an age file; if it is, found whether its
// header has walvault's note (AgeNote), and note what the note says. No identity is needed.
Status read_object_note(Storage& storage, const std::string& key, bool& encrypted, AgeNote& note, bool& found);

// Re-encrypts the encrypted object under key for recipients, in place (Storage::replace): the object is
// decrypted with this process's identities and its plaintext checked completely against its trailer (sha256)
// while the new age file is written; the old object stays until the new one is stored and verified, and stays
// if anything fails. note: the object's note (read_object_note); a WAL object's content note is carried over,
// or made from the trailer (one more read) when the old note has none. meta: the object's trailer.
Status reencrypt_object(Storage& storage, const std::string& key, const std::vector<AgeRecipient>& recipients,
    const AgeNote& note, ObjectMeta& meta);

// Reads only an object's trailer (two small ranged reads); an encrypted object is read and decrypted whole.
Status read_object_meta(Storage& storage, const std::string& key, ObjectMeta& meta);

}  // namespace walvault
