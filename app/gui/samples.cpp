#include "app/gui/samples.h"

#include "render/image.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace fs = std::filesystem;

namespace preimage::app {
namespace {


const char* kindFor(int channels) { return channels == 1 ? "fashion-mnist" : "photograph"; }

}  // namespace

std::vector<Sample> loadSamples(const std::string& directory) {
    std::vector<Sample> out;
    std::set<std::string> listed;
    std::ifstream in(fs::path(directory) / "samples.json");
    const nlohmann::json j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
    if (j.is_object() && j.contains("samples") && j["samples"].is_array()) {
        for (const auto& s : j["samples"]) {
            if (!s.is_object() || !s.contains("file") || !s["file"].is_string()) continue;
            const fs::path p = fs::absolute(fs::path(directory) / s["file"].get<std::string>());
            if (!fs::exists(p)) continue;
            out.push_back({p.string(), s.value("kind", std::string()), s.value("default", false)});
            listed.insert(p.filename().string());
        }
    }
    std::vector<std::string> rest;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(directory, ec))
        if (e.is_regular_file() && render::isImageFile(e.path().string()) && !listed.count(e.path().filename().string()))
            rest.push_back(fs::absolute(e.path()).string());
    std::sort(rest.begin(), rest.end());
    for (auto& p : rest) out.push_back({p, "", false});
    return out;
}

std::vector<std::string> samplesFor(const std::vector<Sample>& samples, int channels) {
    std::vector<std::string> fit, all;
    for (const auto& s : samples) {
        all.push_back(s.path);
        if (s.kind.empty() || s.kind == kindFor(channels)) fit.push_back(s.path);
    }
    return fit.empty() ? all : fit;
}

std::string defaultSampleFor(const std::vector<Sample>& samples, int channels) {
    for (const auto& s : samples)
        if (s.isDefault && s.kind == kindFor(channels)) return s.path;
    const auto fit = samplesFor(samples, channels);
    return fit.empty() ? std::string() : fit.front();
}

}  // namespace preimage::app
