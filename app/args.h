// A small command-line parser: `--key value` options and `--flag` switches, checked against the set a
// subcommand accepts. Errors are preimage::Error (exit code 2) with the offending option named.
#pragma once

#include "inference/engine.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace preimage::app {

class Args {
public:
    // options: names that take a value; flags: names that do not (both without the leading --).
    Args(const std::vector<std::string>& argv, size_t first, const std::set<std::string>& options,
         const std::set<std::string>& flags, const std::string& command);

    bool has(const std::string& name) const { return m_values.count(name) != 0; }
    std::string str(const std::string& name, const std::string& fallback = "") const;
    std::string required(const std::string& name) const;
    int integer(const std::string& name, int fallback) const;
    float number(const std::string& name, float fallback) const;
    std::vector<float> numbers(const std::string& name) const;  // comma-separated
    std::vector<int> integers(const std::string& name) const;   // comma-separated
    const std::vector<std::string>& positional() const { return m_positional; }

private:
    std::string m_command;
    std::map<std::string, std::string> m_values;
    std::vector<std::string> m_positional;
};

}  // namespace preimage::app
