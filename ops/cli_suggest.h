// Suggestions for a mistyped verb. CLI11 alone answers `handoff stauts` with
// "The following arguments were not expected"; an operator is better served by
// being told which verb was probably meant.
//
// Thread-safety: pure functions; called from main only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace handoff {

// Edit distance where inserting, deleting or replacing a character, or
// swapping two adjacent ones, costs 1 (so "stauts" is 1 away from "status").
size_t VerbDistance(std::string_view a, std::string_view b);

// The candidate `word` most likely stands for: the nearest one when it is
// close enough to be a typo (1 edit for verbs of up to 4 characters, 2 for
// longer ones), else the only candidate `word` is a prefix of; "" otherwise.
std::string ClosestVerb(std::string_view word, const std::vector<std::string>& candidates);

// Follows `args` (argv without the program name) down the subcommand tree of
// `app`, skipping options and their values. At the first word that should
// name a subcommand but names none, returns the sentence to print, such as
// "unknown command 'exceptions lsit'; did you mean 'exceptions list'?";
// returns "" when every verb is known.
std::string UnknownVerbMessage(CLI::App& app, const std::vector<std::string>& args);

}  // namespace handoff
