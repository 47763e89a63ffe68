#include "copy_text_parser.h"

#include <fmt/format.h>

#include "handoff/engine/text_codec.h"

namespace handoff {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

}  // namespace

Status ParseCopyTextRow(std::string_view line, std::vector<std::optional<std::string>>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  size_t i = 0;
  while (true) {
    // A field that is exactly \N is NULL.
    if (line.substr(i, 2) == "\\N" && (i + 2 == line.size() || line[i + 2] == '\t')) {
      fields->emplace_back(std::nullopt);
      i += 2;
    } else {
      std::string value;
      while (i < line.size() && line[i] != '\t') {
        char c = line[i++];
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i >= line.size()) {
          return Status::Corruption(fmt::format("COPY text: dangling backslash at offset {}", i - 1));
        }
        char e = line[i++];
        switch (e) {
          case 'b': value += '\b'; break;
          case 'f': value += '\f'; break;
          case 'n': value += '\n'; break;
          case 'r': value += '\r'; break;
          case 't': value += '\t'; break;
          case 'v': value += '\v'; break;
          case 'x': {
            int v = 0, digits = 0;
            while (digits < 2 && i < line.size() && HexDigitValue(line[i]) >= 0) v = v * 16 + HexDigitValue(line[i++]), ++digits;
            if (digits == 0) {
              value += 'x';  // "\x" without hex digits is a plain x
            } else {
              value += static_cast<char>(v);
            }
            break;
          }
          default:
            if (IsOctal(e)) {
              int v = e - '0', digits = 1;
              while (digits < 3 && i < line.size() && IsOctal(line[i])) v = v * 8 + (line[i++] - '0'), ++digits;
              value += static_cast<char>(v & 0xff);
            } else {
              value += e;  // \\ and any other escaped character stand for themselves
            }
        }
      }
      fields->emplace_back(std::move(value));
    }
    if (i >= line.size()) break;
    if (line[i] != '\t') {
      return Status::Corruption(fmt::format("COPY text: expected a tab at offset {}", i));
    }
    ++i;  // the tab; a trailing tab starts an empty last field
  }
  return Status::OK();
}

}  // namespace handoff
