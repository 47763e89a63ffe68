// Byte <-> text encodings shared by every component: lower-case hex, standard
// base64 (RFC 4648 alphabet, '=' padding) and the hex SHA-256 digest. Base64
// and SHA-256 are OpenSSL's (libcrypto), wrapped here once.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace handoff {

// 0..15 for a hex digit of either case, else -1.
int HexDigitValue(char c);
// "\x0a\xff" -> "0aff".
std::string HexEncode(std::string_view bytes);
// "0aFF" -> "\x0a\xff" (either case). False on an odd length or a non-hex
// character; *out is then unspecified.
bool HexDecode(std::string_view hex, std::string* out);

// Standard base64 of `bytes`, padded.
std::string Base64Encode(std::string_view bytes);
void AppendBase64(std::string* out, std::string_view bytes);
// Strict standard base64: a multiple of four characters of the RFC 4648
// alphabet, '=' only as one or two trailing pad characters. "" decodes to "".
// False on anything else; *out is then unspecified.
bool Base64Decode(std::string_view b64, std::string* out);

// Lower-case hex of the SHA-256 digest of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

}  // namespace handoff
