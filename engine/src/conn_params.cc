#include "handoff/engine/conn_params.h"

#include <cctype>

namespace handoff {
namespace {

bool IsUri(const std::string& s) { return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string PercentDecode(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && HexDigit(v[i + 1]) >= 0 && HexDigit(v[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(v[i + 1]) * 16 + HexDigit(v[i + 2]));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

Result<std::vector<ConninfoPair>> ParseKeywords(const std::string& text) {
  std::vector<ConninfoPair> out;
  size_t i = 0, n = text.size();
  auto space = [&](size_t k) { return k < n && std::isspace(static_cast<unsigned char>(text[k])); };
  while (true) {
    while (space(i)) ++i;
    if (i >= n) break;
    size_t start = i;
    while (i < n && text[i] != '=' && !space(i)) ++i;
    std::string key = text.substr(start, i - start);
    while (space(i)) ++i;
    if (i >= n || text[i] != '=')
      return Status::InvalidArgument("not a connection string: missing '=' after the keyword at character " +
                                     std::to_string(start + 1) + " (keyword=value pairs, or a postgresql:// URI)");
    if (key.empty()) return Status::InvalidArgument("a value without a keyword at character " + std::to_string(i + 1));
    ++i;
    while (space(i)) ++i;
    std::string value;
    if (i < n && text[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < n) {
        char c = text[i++];
        if (c == '\\' && i < n) {
          value += text[i++];
        } else if (c == '\'') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return Status::InvalidArgument("the quoted value of " + key + " is not closed");
    } else {
      while (i < n && !space(i)) {
        if (text[i] == '\\' && i + 1 < n) ++i;
        value += text[i++];
      }
    }
    out.push_back({key, value});
  }
  return out;
}

// postgresql://[user[:password]@][host[:port][,...]][/dbname][?key=value&...]
Result<std::vector<ConninfoPair>> ParseUri(const std::string& uri) {
  std::vector<ConninfoPair> out;
  std::string_view rest(uri);
  rest.remove_prefix(rest.find("://") + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest, path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view user = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = user.find(':');
    if (!user.substr(0, colon).empty()) out.push_back({"user", PercentDecode(user.substr(0, colon))});
    if (colon != std::string_view::npos) out.push_back({"password", PercentDecode(user.substr(colon + 1))});
  }
  std::string hosts, ports;
  bool any_port = false;
  size_t count = 0;
  while (!authority.empty()) {
    size_t comma = authority.find(',');
    std::string_view one = authority.substr(0, comma);
    authority = comma == std::string_view::npos ? std::string_view() : authority.substr(comma + 1);
    std::string_view host = one, port;
    if (!one.empty() && one[0] == '[') {  // [IPv6]:port
      size_t close = one.find(']');
      if (close == std::string_view::npos)
        return Status::InvalidArgument("not a connection URI: an IPv6 host address is missing its ']'");
      host = one.substr(1, close - 1);
      if (close + 1 < one.size() && one[close + 1] == ':') port = one.substr(close + 2);
    } else if (size_t colon = one.rfind(':'); colon != std::string_view::npos) {
      host = one.substr(0, colon);
      port = one.substr(colon + 1);
    }
    hosts += (count ? "," : "") + PercentDecode(host);
    ports += (count ? "," : "") + PercentDecode(port);
    any_port = any_port || !port.empty();
    ++count;
  }
  if (!hosts.empty() && hosts != std::string(count - 1, ',')) out.push_back({"host", hosts});
  if (any_port) out.push_back({"port", ports});
  if (!path.empty()) out.push_back({"dbname", PercentDecode(path)});
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return Status::InvalidArgument("not a connection URI: a query parameter without '=' or without a name");
    out.push_back({PercentDecode(kv.substr(0, eq)), PercentDecode(kv.substr(eq + 1))});
  }
  return out;
}

bool NeedsQuotes(const std::string& v) {
  if (v.empty()) return true;
  for (char c : v)
    if (std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '\\') return true;
  return false;
}

}  // namespace

Result<ConnParams> ConnParams::Parse(const std::string& text) {
  ConnParams p;
  if (IsUri(text)) {
    auto pairs = ParseUri(text);
    if (!pairs.ok()) return pairs.status();
    p.pairs = std::move(*pairs);
  } else if (text.find('=') == std::string::npos) {
    if (!text.empty()) p.pairs.push_back({"dbname", text});
  } else {
    auto pairs = ParseKeywords(text);
    if (!pairs.ok()) return pairs.status();
    p.pairs = std::move(*pairs);
  }
  return p;
}

std::string ConnParams::Get(std::string_view key) const {
  std::string out;
  for (const auto& p : pairs)
    if (p.key == key) out = p.value;
  return out;
}

void ConnParams::Set(const std::string& key, const std::string& value) {
  std::erase_if(pairs, [&](const ConninfoPair& p) { return p.key == key; });
  pairs.push_back({key, value});
}

std::string ConnParams::Redacted() const {
  std::string out;
  for (const auto& p : pairs) {
    if (!out.empty()) out += ' ';
    out += p.key + '=';
    if (p.key == "password") {
      out += "***";
    } else if (!NeedsQuotes(p.value)) {
      out += p.value;
    } else {
      out += '\'';
      for (char c : p.value) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += '\'';
    }
  }
  return out;
}

std::string ConnParams::Redact(std::string text) const {
  const std::string password = Get("password");
  if (password.empty()) return text;
  for (size_t at = text.find(password); at != std::string::npos; at = text.find(password, at + 3))
    text.replace(at, password.size(), "***");
  return text;
}

ConnParams::Arrays ConnParams::ForLibpq(const std::vector<ConninfoPair>& defaults,
                                        const std::vector<ConninfoPair>& forced) const {
  Arrays a;
  for (const auto* list : {&defaults, &pairs, &forced}) {
    for (const auto& p : *list) {
      a.keys.push_back(p.key.c_str());
      a.values.push_back(p.value.c_str());
    }
  }
  a.keys.push_back(nullptr);
  a.values.push_back(nullptr);
  return a;
}

}  // namespace handoff
