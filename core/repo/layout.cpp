// Repository layout; see docs/repository-format.md for the whole picture.
#include "core/repo/layout.h"

#include "core/codec/codec.h"

#include <cstdio>

namespace walvault {

std::string wal_object_key(const WalName& name)
{
    if (name.kind == WalKind::history)
        return std::string(k_wal_prefix) + name.text + k_object_suffix;
    return std::string(k_wal_prefix) + name.text.substr(0, 16) + "/" + name.text + k_object_suffix;
}

namespace {

constexpr size_t k_stream_length_digits = 8;

std::optional<uint64_t> parse_hex_digits(std::string_view text)
{
    uint64_t v = 0;
    for (char c : text) {
        if (c >= '0' && c <= '9')
            v = v * 16 + static_cast<uint64_t>(c - '0');
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + static_cast<uint64_t>(c - 'A' + 10);
        else
            return std::nullopt;
    }
    return v;
}

}  // namespace

std::string stream_prefix_name(const WalName& segment, uint64_t length)
{
    char digits[k_stream_length_digits + 1];
    std::snprintf(digits, sizeof(digits), "%08llX", static_cast<unsigned long long>(length));
    return segment.text.substr(0, k_xlog_fname_len) + "." + digits + k_stream_suffix;
}

std::string stream_prefix_key(const WalName& segment, uint64_t length)
{
    return std::string(k_wal_prefix) + segment.text.substr(0, 16) + "/" + stream_prefix_name(segment, length) +
        k_object_suffix;
}

std::optional<StreamPrefix> stream_prefix_of_key(std::string_view key)
{
    static const std::string k_suffix = std::string(k_stream_suffix) + k_object_suffix;
    const std::string_view suffix = k_suffix;
    const size_t name_len = k_xlog_fname_len + 1 + k_stream_length_digits;
    const size_t prefix_len = std::string_view(k_wal_prefix).size() + 17;  // "wal/" + dir + "/"
    if (key.size() != prefix_len + name_len + suffix.size() || key.substr(key.size() - suffix.size()) != suffix)
        return std::nullopt;
    const std::string_view name = key.substr(prefix_len, name_len);
    const std::optional<WalName> segment = parse_wal_name(name.substr(0, k_xlog_fname_len));
    const std::optional<uint64_t> length = parse_hex_digits(name.substr(k_xlog_fname_len + 1));
    if (!segment || segment->kind != WalKind::segment || name[k_xlog_fname_len] != '.' || !length || *length == 0)
        return std::nullopt;
    StreamPrefix out{*segment, *length};
    if (stream_prefix_key(out.segment, out.length) != key)
        return std::nullopt;
    return out;
}

std::string receive_state_prefix(const std::string& slot)
{
    return std::string(k_receive_prefix) + slot + "/";
}

std::string backup_prefix(const std::string& label)
{
    return std::string(k_backup_prefix) + label + "/";
}

std::string backup_manifest_key(const std::string& label)
{
    return backup_prefix(label) + k_backup_manifest_name;
}

std::string backup_started_key(const std::string& label)
{
    return backup_prefix(label) + k_backup_started_name;
}

namespace {

constexpr std::string_view k_lease_stem = "lease.";
constexpr std::string_view k_pin_stem = "pin.";
constexpr std::string_view k_mark_suffix = ".json";
constexpr size_t k_mark_digits = 15;

// "<stem><time, zero-padded to 15 digits>.json": key order is time order.
std::string mark_name(std::string_view stem, int64_t time)
{
    std::string digits = std::to_string(time < 0 ? 0 : time);
    if (digits.size() < k_mark_digits)
        digits.insert(0, k_mark_digits - digits.size(), '0');
    return std::string(stem) + digits + std::string(k_mark_suffix);
}

// The time of a name mark_name() made with stem; nullopt for any other name.
std::optional<int64_t> mark_name_time(std::string_view name, std::string_view stem)
{
    if (name.size() != stem.size() + k_mark_digits + k_mark_suffix.size() || name.substr(0, stem.size()) != stem ||
        name.substr(name.size() - k_mark_suffix.size()) != k_mark_suffix)
        return std::nullopt;
    int64_t t = 0;
    for (char c : name.substr(stem.size(), k_mark_digits)) {
        if (c < '0' || c > '9')
            return std::nullopt;
        t = t * 10 + (c - '0');
    }
    return t;
}

std::string mark_key(const std::string& label, std::string_view stem, int64_t unix_seconds)
{
    return backup_prefix(label) + mark_name(stem, unix_seconds);
}

std::optional<int64_t> mark_time(std::string_view key, std::string_view stem)
{
    const auto label = label_of_backup_key(key);
    if (!label)
        return std::nullopt;
    return mark_name_time(key.substr(std::string_view(k_backup_prefix).size() + label->size() + 1), stem);
}

}  // namespace

std::string receive_state_key(const std::string& slot, int64_t unix_ms)
{
    return receive_state_prefix(slot) + mark_name("state.", unix_ms);
}

std::optional<int64_t> receive_state_time(std::string_view key)
{
    const size_t slash = key.rfind('/');
    if (key.substr(0, std::string_view(k_receive_prefix).size()) != k_receive_prefix || slash == std::string_view::npos)
        return std::nullopt;
    return mark_name_time(key.substr(slash + 1), "state.");
}

std::string backup_lease_key(const std::string& label, int64_t unix_seconds)
{
    return mark_key(label, k_lease_stem, unix_seconds);
}

std::string backup_pin_key(const std::string& label, int64_t unix_seconds)
{
    return mark_key(label, k_pin_stem, unix_seconds);
}

std::optional<int64_t> backup_lease_time(std::string_view key)
{
    return mark_time(key, k_lease_stem);
}

std::optional<int64_t> backup_pin_time(std::string_view key)
{
    return mark_time(key, k_pin_stem);
}

std::string backup_file_key(const std::string& label, const std::string& path)
{
    // Data-directory names are the server's business: percent-encode anything outside a portable set,
    // and a '.' that starts a component (storage keys never have hidden components).
    static constexpr std::string_view k_plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/";
    std::string encoded;
    encoded.reserve(path.size());
    for (size_t i = 0; i < path.size(); i++) {
        const char c = path[i];
        const bool starts_component = i == 0 || path[i - 1] == '/';
        if (k_plain.find(c) == std::string_view::npos || (c == '.' && starts_component)) {
            static constexpr char k_hex[] = "0123456789ABCDEF";
            const auto u = static_cast<unsigned char>(c);
            encoded += '%';
            encoded += k_hex[u >> 4];
            encoded += k_hex[u & 0xF];
        } else {
            encoded += c;
        }
    }
    return backup_prefix(label) + k_backup_data_dir + encoded + k_object_suffix;
}

std::string backup_part_key(const std::string& file_key, size_t index)
{
    return file_key + "." + std::to_string(index);
}

std::string backup_part_key(const std::string& label, const std::string& path, size_t index)
{
    return backup_part_key(backup_file_key(label, path), index);
}

std::optional<std::string> label_of_backup_key(std::string_view key)
{
    const std::string_view prefix = k_backup_prefix;
    if (key.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    key.remove_prefix(prefix.size());
    const size_t slash = key.find('/');
    if (slash == std::string_view::npos || slash == 0)
        return std::nullopt;
    return std::string(key.substr(0, slash));
}

}  // namespace walvault
