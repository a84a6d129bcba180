#include "inference/data/factors.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace preimage {

bool hasFactors(const std::string& dir) { return fs::is_regular_file(fs::path(dir) / "factors.csv"); }

FactorSet readFactors(const std::string& dir, const ImageSet& set, const std::vector<int>& indices) {
    const fs::path csv = fs::path(dir) / "factors.csv";
    std::ifstream in(csv);
    if (!in) throw Error("cannot read '" + csv.string() + "'");
    std::string line;
    if (!std::getline(in, line)) throw Error("'" + csv.string() + "' is empty");
    auto split = [](const std::string& s) {
        std::vector<std::string> out;
        std::stringstream ss(s);
        for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
        return out;
    };
    FactorSet f;
    const auto header = split(line);
    if (header.size() < 2 || header[0] != "file") throw Error("'" + csv.string() + "' must start with a 'file' column and a factor");
    f.names.assign(header.begin() + 1, header.end());
    std::map<std::string, std::vector<int>> rows;
    for (int number = 2; std::getline(in, line); ++number) {
        if (line.empty()) continue;
        const auto cells = split(line);
        if (cells.size() != header.size())
            throw Error("'" + csv.string() + "' line " + std::to_string(number) + " has " + std::to_string(cells.size()) +
                        " fields, the header " + std::to_string(header.size()));
        std::vector<int> v;
        for (size_t k = 1; k < cells.size(); ++k) {
            try {
                size_t used = 0;
                v.push_back(std::stoi(cells[k], &used));
                if (used != cells[k].size() || v.back() < 0) throw std::invalid_argument("");
            } catch (const std::exception&) {
                throw Error("'" + csv.string() + "' line " + std::to_string(number) + ": '" + cells[k] +
                            "' is not a level index (a whole number >= 0)");
            }
        }
        rows[cells[0]] = std::move(v);
    }
    f.labels.assign(f.names.size(), {});
    for (int i : indices) {
        const std::string rel = fs::path(set.name(i)).lexically_relative(dir).generic_string();
        auto it = rows.find(rel);
        if (it == rows.end()) throw Error("'" + set.name(i) + "' has no row in '" + csv.string() + "'");
        for (size_t k = 0; k < f.names.size(); ++k) f.labels[k].push_back(it->second[k]);
    }
    return f;
}

}  // namespace preimage
