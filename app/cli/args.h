// A small command-line parser: `--key value` options and `--flag` switches, checked against the set a
// subcommand accepts. Errors are preimage::Error (exit code 2) with the offending option named. The command's
// thread; no shared state.
#pragma once

#include "inference/engine.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace preimage::app {

// Thrown by Args for `--help` (or -h): the CLI prints the command's usage and options, exit code 0.
struct HelpRequest {
    std::string command;
    std::vector<std::string> options;  // "--name VALUE" / "--flag", sorted
};

// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo; else "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

class Args {
public:
    // options: names that take a value; flags: names that do not (both without the leading --).
    Args(const std::vector<std::string>& argv, size_t first, const std::set<std::string>& options,
         const std::set<std::string>& flags, const std::string& command);

    const std::string& command() const { return m_command; }
    bool has(const std::string& name) const { return m_values.count(name) != 0; }
    std::string str(const std::string& name, const std::string& fallback = "") const;
    std::string required(const std::string& name) const;
    int integer(const std::string& name, int fallback) const;
    // An image count such as --limit: absent = 0 (all); given, it must be 1 or more.
    int limit(const std::string& name) const;
    float number(const std::string& name, float fallback) const;
    std::vector<float> numbers(const std::string& name) const;  // comma-separated
    std::vector<int> integers(const std::string& name) const;   // comma-separated
    std::vector<std::string> strings(const std::string& name) const;  // comma-separated, empty items dropped

private:
    std::string m_command;
    std::map<std::string, std::string> m_values;
};

}  // namespace preimage::app
