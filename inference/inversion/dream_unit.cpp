#include "inference/inversion/dream_unit.h"

#include "inference/data/npy.h"

#include <algorithm>
#include <cctype>

namespace preimage {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

bool parseInt(const std::string& s, int& value) {
    try {
        size_t used = 0;
        value = std::stoi(s, &used);
        return used == s.size();
    } catch (const std::exception&) {
        return false;
    }
}

std::string range(int64_t n) { return "0-" + std::to_string(n - 1); }

}  // namespace

DreamUnit parseDreamUnit(const Model& model, const std::string& spec) {
    const auto& layers = model.layers();
    const int output = int(layers.size()) - 1;
    DreamUnit u;
    if (spec.empty()) throw Error("no unit given: a class index or name, LAYER:CHANNEL, LAYER:C@X,Y or LAYER:dir=...");
    const auto dir = spec.find(":dir=");
    const auto colon = dir != std::string::npos ? dir : spec.rfind(':');
    std::string rest = spec;
    if (colon != std::string::npos) {
        u.layer = model.layerIndex(spec.substr(0, colon));  // names a few valid layers when unknown
        rest = spec.substr(colon + 1);
    } else {
        u.layer = output;  // the class scores
    }
    const auto& shape = layers[size_t(u.layer)].shape;
    const std::string where = "layer '" + layers[size_t(u.layer)].name + "'";
    if (shape.empty()) throw Error("--unit '" + spec + "': " + where + " is a scalar");
    if (dir != std::string::npos) {  // a direction in the tap's channel space
        u.kind = DreamUnit::Kind::Direction;
        const std::string v = rest.substr(4);
        std::vector<float> values;
        if (v.size() > 4 && v.compare(v.size() - 4, 4, ".npy") == 0) {
            values = readNpy(v).data;
        } else {
            size_t start = 0;
            while (start <= v.size()) {
                const size_t comma = v.find(',', start);
                const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                try {
                    size_t used = 0;
                    values.push_back(std::stof(item, &used));
                    if (used != item.size()) throw std::invalid_argument(item);
                } catch (const std::exception&) {
                    throw Error("--unit '" + spec + "': the direction is FILE.npy or comma-separated numbers, not '" + item + "'");
                }
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        }
        if (int64_t(values.size()) != shape[0])
            throw Error("--unit '" + spec + "': " + where + " has " + std::to_string(shape[0]) + " channels, the direction " +
                        std::to_string(values.size()) + " values");
        auto d = torch::tensor(values);
        const float norm = d.norm().item<float>();
        if (!(norm > 0) || !std::isfinite(norm)) throw Error("--unit '" + spec + "': the direction must be finite and not zero");
        u.direction = d / norm;
        return u;
    }
    std::string channel = rest;
    if (const auto at = rest.find('@'); at != std::string::npos) {
        channel = rest.substr(0, at);
        const std::string pos = rest.substr(at + 1);
        u.kind = DreamUnit::Kind::Neuron;
        if (shape.size() != 3)
            throw Error("--unit '" + spec + "': one neuron needs a tap with [C, H, W] maps; " + where + " is not one");
        if (lower(pos) == "center" || lower(pos) == "centre") {
            u.x = int(shape[2] / 2), u.y = int(shape[1] / 2);
        } else {
            const auto comma = pos.find(',');
            if (comma == std::string::npos || !parseInt(pos.substr(0, comma), u.x) || !parseInt(pos.substr(comma + 1), u.y))
                throw Error("--unit '" + spec + "': a neuron is LAYER:CHANNEL@X,Y or LAYER:CHANNEL@center");
            if (u.x < 0 || u.x >= shape[2] || u.y < 0 || u.y >= shape[1])
                throw Error("--unit '" + spec + "': " + where + " has positions x " + range(shape[2]) + ", y " + range(shape[1]));
        }
    }
    if (!parseInt(channel, u.channel)) {
        // A class name from the manifest or the file's preimage.json ("sneaker", "Egyptian cat"), case-insensitive.
        u.channel = -1;
        const auto& classes = model.classNames();
        if (u.layer == output)
            for (size_t i = 0; i < classes.size() && u.channel < 0; ++i)
                if (lower(classes[i]) == lower(channel)) u.channel = int(i);
        // Else a part of one name ("Black-capped Chickadee" for "Poecile atricapillus (Black-capped Chickadee)"),
        // when only one name has it.
        std::vector<size_t> partial;
        if (u.layer == output && u.channel < 0 && !channel.empty())
            for (size_t i = 0; i < classes.size(); ++i)
                if (lower(classes[i]).find(lower(channel)) != std::string::npos) partial.push_back(i);
        if (partial.size() == 1) u.channel = int(partial[0]);
        if (partial.size() > 1) {
            std::string names;
            for (size_t k = 0; k < partial.size() && k < 5; ++k)
                names += (k ? ", '" : "'") + classes[partial[k]] + "' (" + std::to_string(partial[k]) + ")";
            throw Error("--unit '" + spec + "': " + std::to_string(partial.size()) + " class names contain '" + channel +
                        "': " + names + (partial.size() > 5 ? ", ..." : "") + "; give more of the name or its index");
        }
        if (u.channel < 0) {
            std::string valid = "expected a class index";
            if (model.classCount() > 0) valid += " (" + range(model.classCount()) + ")";
            if (!classes.empty()) valid += " or name ('" + classes.front() + "', ... '" + classes.back() + "')";
            throw Error("--unit '" + spec + "': " + valid + ", or LAYER:CHANNEL");
        }
    }
    // A channel of the last tap is a class: a score of the network's output (which may drop or reshape what the tap
    // holds: MobileNet V2's 1001-channel logits tap and its 1000 classes without the background).
    u.classUnit = u.layer == output && model.classCount() > 0 && u.kind == DreamUnit::Kind::Channel;
    const int64_t count = u.classUnit ? int64_t(model.classCount()) : shape[0];
    if (u.channel < 0 || u.channel >= count)
        throw Error("--unit '" + spec + "': " + where + " has " + (u.classUnit ? "classes " : "channels ") + range(count));
    return u;
}

torch::Tensor unitFeatures(const Model::Impl& M, const torch::Tensor& input, const DreamUnit& u) {
    return u.classUnit ? M.forwardAll(input).flatten(1) : M.forwardTo(input, u.layer);
}

torch::Tensor unitActivation(const torch::Tensor& f, const DreamUnit& u) {
    switch (u.kind) {
        case DreamUnit::Kind::Neuron:
            return f.select(1, u.channel).select(1, u.y).select(1, u.x);
        case DreamUnit::Kind::Direction: {
            std::vector<int64_t> view(size_t(f.dim()), 1);
            view[1] = f.size(1);
            auto p = (f * u.direction.to(f.device()).view(view)).sum(1);
            return p.dim() > 1 ? p.flatten(1).mean(1) : p;
        }
        case DreamUnit::Kind::Channel:
            break;
    }
    auto c = f.select(1, u.channel);
    return c.dim() > 1 ? c.flatten(1).mean(1) : c;
}

}  // namespace preimage
