// JSON text for every file the project writes. Torch-free, header-only, pure: any thread.
//
// Values computed in float reach nlohmann::json as doubles and would print with float32 noise
// (9.999999747378752e-06 for 1e-05): a double that is exactly a float is written as the shortest decimal
// that reads back as that float. True doubles are left alone.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace preimage {

inline void shortenFloats(nlohmann::json& j) {
    if (j.is_number_float()) {
        const double d = j.get<double>();
        const float f = float(d);
        if (std::isfinite(d) && double(f) == d) {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf - 1, f);
            *r.ptr = '\0';
            j = std::strtod(buf, nullptr);
        }
    } else if (j.is_structured()) {
        for (auto& v : j) shortenFloats(v);
    }
}

// Two-space indented, floats shortened, with a final newline.
inline std::string jsonText(nlohmann::json j) {
    shortenFloats(j);
    return j.dump(2) + "\n";
}

}  // namespace preimage
