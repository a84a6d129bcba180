#include "inference/data/npy.h"

#include "inference/engine.h"
#include "render/image.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace preimage {

void writeNpy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data) {
    std::string dims;
    for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    // magic (6) + version (2) + header length (2) + header + '\n', padded to a multiple of 64.
    size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::string bytes("\x93NUMPY\x01\x00", 8);
    const uint16_t len = uint16_t(header.size());
    bytes += char(len & 0xff);
    bytes += char(len >> 8);
    bytes += header;
    bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
    try {
        render::writeFileAtomically(path, bytes);  // the one writer
    } catch (const render::IoError& e) {
        throw Error(e.what());
    }
}

NpyArray readNpy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read '" + path + "'");
    char magic[10];
    if (!in.read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error("'" + path + "' is not a .npy file");
    size_t len = size_t(uint8_t(magic[8])) | size_t(uint8_t(magic[9])) << 8;
    if (magic[6] != 1) {  // version 2/3: 4-byte length
        char more[2];
        in.read(more, 2);
        len |= size_t(uint8_t(more[0])) << 16 | size_t(uint8_t(more[1])) << 24;
    }
    std::string header(len, '\0');
    if (!in.read(header.data(), std::streamsize(len))) throw Error("'" + path + "': truncated header");
    const bool f8 = header.find("'<f8'") != std::string::npos;
    if (!f8 && header.find("'<f4'") == std::string::npos) throw Error("'" + path + "': only float32/float64 arrays are read");
    if (header.find("'fortran_order': True") != std::string::npos) throw Error("'" + path + "': Fortran order is not read");
    NpyArray a;
    auto open = header.find('('), close = header.find(')');
    if (open == std::string::npos || close == std::string::npos) throw Error("'" + path + "': no shape in header");
    std::stringstream ss(header.substr(open + 1, close - open - 1));
    std::string item;
    size_t count = 1;
    while (std::getline(ss, item, ','))
        if (item.find_first_not_of(' ') != std::string::npos) {
            a.shape.push_back(std::stoll(item));
            count *= size_t(a.shape.back());
        }
    a.data.resize(count);
    if (f8) {
        std::vector<double> d(count);
        if (!in.read(reinterpret_cast<char*>(d.data()), std::streamsize(count * 8))) throw Error("'" + path + "': truncated data");
        for (size_t i = 0; i < count; ++i) a.data[i] = float(d[i]);
    } else if (!in.read(reinterpret_cast<char*>(a.data.data()), std::streamsize(count * 4))) {
        throw Error("'" + path + "': truncated data");
    }
    return a;
}

}  // namespace preimage
