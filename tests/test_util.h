// Helpers shared by the tests: a per-process scratch directory and file helpers.
#pragma once

#include "inference/engine.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace testutil {

inline std::filesystem::path scratch() {
    static std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("preimage-tests-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

inline std::string path(const std::string& name) { return (scratch() / name).string(); }

inline void writeBytes(const std::string& file, const std::string& bytes) {
    std::ofstream(file, std::ios::binary) << bytes;
}

inline std::string readBytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The committed sample images (Fashion-MNIST test set).
inline std::string sample(const std::string& stemPrefix) {
    for (const auto& e : std::filesystem::directory_iterator(PREIMAGE_SOURCE_DIR "/assets/samples"))
        if (e.path().filename().string().rfind(stemPrefix, 0) == 0) return e.path().string();
    return "";
}

inline std::string testModels() {
    const char* env = std::getenv("PREIMAGE_TEST_MODELS");
    return env ? env : "";
}

// A TorchScript file made by tests/make_models.py.
inline std::string testModel(const std::string& name) { return testModels() + "/" + name; }

// The Error a test model's load throws ("" when it loads).
inline std::string loadError(const std::string& name, const preimage::ModelOptions& options = {}) {
    try {
        preimage::Model::load(testModel(name), options);
    } catch (const preimage::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace testutil
