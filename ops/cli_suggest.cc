#include "cli_suggest.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <numeric>

namespace handoff {

size_t VerbDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: three rows of the dynamic-programming table.
  std::vector<size_t> two_back(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], two_back[j - 2] + 1);
      }
    }
    std::swap(two_back, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string ClosestVerb(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& c : candidates) {
    size_t d = VerbDistance(word, c);
    size_t limit = c.size() <= 4 ? 1 : 2;
    if (d <= limit && d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (!best.empty() || word.empty()) return best;
  std::string only;
  for (const std::string& c : candidates) {
    if (!c.starts_with(word)) continue;
    if (!only.empty()) return "";  // ambiguous: "re" could be replay or resolve
    only = c;
  }
  return only;
}

namespace {

// The option `name` as `app` sees it: its own, or one of a parent (global
// options may follow a verb).
const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (; app != nullptr; app = app->get_parent()) {
    if (const CLI::Option* o = app->get_option_no_throw(name)) return o;
  }
  return nullptr;
}

}  // namespace

std::string UnknownVerbMessage(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* cur = &app;
  std::string path;  // the verbs matched so far, each followed by a space
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string::npos) continue;
      const CLI::Option* o = FindOption(cur, a);
      if (o != nullptr && o->get_items_expected_max() > 0) ++i;  // skip its value
      continue;
    }
    std::vector<std::string> names;
    CLI::App* next = nullptr;
    for (CLI::App* sub : cur->get_subcommands([](CLI::App*) { return true; })) {
      if (sub->get_name().empty()) continue;
      names.push_back(sub->get_name());
      if (sub->check_name(a)) next = sub;
    }
    if (names.empty()) break;  // a leaf verb: the rest are its arguments
    if (next != nullptr) {
      path += next->get_name() + " ";
      cur = next;
      continue;
    }
    std::string best = ClosestVerb(a, names);
    if (!best.empty()) return "unknown command '" + path + a + "'; did you mean '" + path + best + "'?";
    std::string all;
    for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
    return "unknown command '" + path + a + "'; the commands" +
           (path.empty() ? "" : " of '" + path.substr(0, path.size() - 1) + "'") + " are: " + all;
  }
  return "";
}

}  // namespace handoff
