#include "app/cli/args.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace preimage::app {

Args::Args(const std::vector<std::string>& argv, size_t first, const std::set<std::string>& options,
           const std::set<std::string>& flags, const std::string& command)
    : m_command(command) {
    for (size_t i = first; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a == "--help" || a == "-h") {
            HelpRequest h{command, {}};
            for (const auto& o : options) h.options.push_back("--" + o + " V");
            for (const auto& f : flags) h.options.push_back("--" + f);
            std::sort(h.options.begin(), h.options.end());
            throw h;
        }
        if (a.rfind("--", 0) != 0 || a.size() == 2)
            throw Error("'" + command + "' takes no argument '" + a + "' (options start with --; see `preimage " + command +
                        " --help`)");
        std::string name = a.substr(2), value;
        bool inlineValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inlineValue = true;
        }
        if (flags.count(name)) {
            m_values[name] = inlineValue ? value : "1";
        } else if (options.count(name)) {
            if (!inlineValue) {
                if (i + 1 >= argv.size()) throw Error("'" + command + "': option --" + name + " needs a value");
                value = argv[++i];
            }
            m_values[name] = value;
        } else {
            std::vector<std::string> known(options.begin(), options.end());
            known.insert(known.end(), flags.begin(), flags.end());
            const std::string guess = closest(name, known);
            throw Error("'" + command + "' has no option --" + name + (guess.empty() ? "" : "; did you mean --" + guess + "?") +
                        " (see `preimage " + command + " --help`)");
        }
    }
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    size_t bestDistance = std::string::npos;
    for (const auto& c : candidates) {
        // Edit distance counting a swap of neighbours as one edit (optimal string alignment): "imgae" is 1
        // from "image".
        std::vector<std::vector<size_t>> d(word.size() + 1, std::vector<size_t>(c.size() + 1));
        for (size_t i = 0; i <= word.size(); ++i) d[i][0] = i;
        for (size_t j = 0; j <= c.size(); ++j) d[0][j] = j;
        for (size_t i = 1; i <= word.size(); ++i)
            for (size_t j = 1; j <= c.size(); ++j) {
                d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (word[i - 1] == c[j - 1] ? 0 : 1)});
                if (i > 1 && j > 1 && word[i - 1] == c[j - 2] && word[i - 2] == c[j - 1])
                    d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        if (d[word.size()][c.size()] < bestDistance) bestDistance = d[word.size()][c.size()], best = c;
    }
    const size_t allowed = std::max<size_t>(1, std::min<size_t>(3, word.size() / 3));
    return bestDistance <= allowed ? best : std::string();
}

std::string Args::str(const std::string& name, const std::string& fallback) const {
    auto it = m_values.find(name);
    return it == m_values.end() ? fallback : it->second;
}

std::string Args::required(const std::string& name) const {
    if (!has(name)) throw Error("'" + m_command + "' needs --" + name);
    return str(name);
}

int Args::integer(const std::string& name, int fallback) const {
    if (!has(name)) return fallback;
    const std::string v = str(name);
    try {
        size_t used = 0;
        long long x = std::stoll(v, &used);
        if (used == v.size() && x >= INT32_MIN && x <= INT32_MAX) return int(x);
    } catch (const std::exception&) {
    }
    throw Error("--" + name + " expects an integer, got '" + v + "'");
}

int Args::limit(const std::string& name) const {
    if (!has(name)) return 0;
    const int n = integer(name, 0);
    if (n < 1) throw Error("--" + name + " must be a number of images (1 or more; leave it out for all), got '" + str(name) + "'");
    return n;
}

float Args::number(const std::string& name, float fallback) const {
    if (!has(name)) return fallback;
    const std::string v = str(name);
    try {
        size_t used = 0;
        float x = std::stof(v, &used);
        if (used == v.size() && std::isfinite(x)) return x;
    } catch (const std::exception&) {
    }
    throw Error("--" + name + " expects a number, got '" + v + "'");
}

std::vector<float> Args::numbers(const std::string& name) const {
    std::vector<float> out;
    if (!has(name)) return out;
    std::stringstream ss(str(name));
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            size_t used = 0;
            float x = std::stof(item, &used);
            if (used == item.size() && std::isfinite(x)) {
                out.push_back(x);
                continue;
            }
        } catch (const std::exception&) {
        }
        throw Error("--" + name + " expects comma-separated numbers, got '" + str(name) + "'");
    }
    return out;
}

std::vector<std::string> Args::strings(const std::string& name) const {
    std::vector<std::string> out;
    std::stringstream ss(str(name));
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

std::vector<int> Args::integers(const std::string& name) const {
    std::vector<int> out;
    for (float f : numbers(name)) {
        if (f != std::floor(f)) throw Error("--" + name + " expects comma-separated integers, got '" + str(name) + "'");
        out.push_back(int(f));
    }
    return out;
}

}  // namespace preimage::app
