// render/: decoding with clear errors, PNG round trip, atomic writes, grids.
#include "render/grid.h"
#include "render/image.h"
#include "test_util.h"

#include <doctest/doctest.h>

using namespace preimage::render;

namespace {

Image gradient(int w, int h, int c) {
    Image im{w, h, c, std::vector<uint8_t>(size_t(w) * h * c)};
    for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t((i * 37) % 251);
    return im;
}

std::string pngBytes(const Image& im) {
    auto v = encodePng(im);
    return std::string(v.begin(), v.end());
}

// A PNG signature and IHDR chunk claiming the given size (no pixel data).
std::string pngHeader(uint32_t w, uint32_t h) {
    std::string s = "\x89PNG\r\n\x1a\n";
    s += std::string("\0\0\0\x0d", 4) + "IHDR";
    for (uint32_t v : {w, h})
        for (int k = 3; k >= 0; --k) s += char((v >> (8 * k)) & 0xff);
    s += std::string("\x08\x02\x00\x00\x00", 5);
    s += std::string("\0\0\0\0", 4);  // CRC (stb does not check it)
    return s;
}

std::string errorOf(const std::string& bytes) {
    const std::string file = testutil::path("bad.png");
    testutil::writeBytes(file, bytes);
    try {
        loadImage(file);
    } catch (const IoError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("PNG encode/decode round trip is exact for gray and RGB") {
    for (int c : {1, 3}) {
        Image im = gradient(17, 9, c);
        const std::string file = testutil::path("rt.png");
        savePng(im, file);
        Image back = loadImage(file);
        CHECK(back.width == 17);
        CHECK(back.height == 9);
        CHECK(back.channels == c);
        CHECK(back.pixels == im.pixels);
    }
}

TEST_CASE("bad image files get a clear error, not a crash") {
    const std::string good = pngBytes(gradient(64, 64, 3));
    CHECK(errorOf("").find("is empty") != std::string::npos);
    CHECK(errorOf("definitely not an image, just text").find("not a readable image") != std::string::npos);
    CHECK(errorOf(good.substr(0, good.size() / 2)).find("corrupt or truncated") != std::string::npos);
    CHECK(errorOf(pngHeader(20000, 100)).find("over 16384 pixels") != std::string::npos);
    CHECK(errorOf(pngHeader(100, 100000)).find("refused") != std::string::npos);
    CHECK_THROWS_AS(loadImage(testutil::path("does-not-exist.png")), IoError);
}

TEST_CASE("RGBA images are composited on black to RGB") {
    Image rgba{2, 1, 4, {255, 0, 0, 255, 0, 255, 0, 0}};
    const std::string file = testutil::path("rgba.png");
    savePng(rgba, file);
    Image im = loadImage(file);
    REQUIRE(im.channels == 3);
    CHECK(std::vector<uint8_t>(im.pixels.begin(), im.pixels.end()) == std::vector<uint8_t>{255, 0, 0, 0, 0, 0});
}

TEST_CASE("atomic writes replace the file whole or leave it untouched") {
    const std::string file = testutil::path("atomic.txt");
    writeFileAtomically(file, std::string("first"));
    writeFileAtomically(file, std::string("second version"));
    CHECK(testutil::readBytes(file) == "second version");
    CHECK_THROWS_WITH_AS(writeFileAtomically("/nonexistent-dir/x.png", std::string("x")),
                         doctest::Contains("cannot write '/nonexistent-dir/x.png'"), IoError);
    int leftovers = 0;
    for (const auto& e : std::filesystem::directory_iterator(testutil::scratch()))
        leftovers += e.path().string().find(".tmp") != std::string::npos;
    CHECK(leftovers == 0);
}

TEST_CASE("grids lay out scaled cells with labels") {
    std::vector<GridCell> cells;
    for (int i = 0; i < 5; ++i) cells.push_back({gradient(28, 28, 1), "conv" + std::to_string(i), "err 0.1"});
    Image g = composeGrid(cells, 3, 112);
    // 28 px scaled x4 = 112 per cell, 3 columns, 2 rows, 8 px padding, 30 px of labels per row.
    CHECK(g.width == 8 + 3 * (112 + 8));
    CHECK(g.height == 8 + 2 * (112 + 30 + 8));
    CHECK(g.channels == 3);
    // Label text is drawn: the strip under the first cell has bright pixels.
    int bright = 0;
    for (int y = 8 + 112; y < 8 + 112 + 30; ++y)
        for (int x = 8; x < 8 + 112; ++x) bright += g.at(x, y)[0] > 200;
    CHECK(bright > 20);
    // Nearest-neighbour scaling keeps pixels crisp: a 4x4 block is one colour.
    CHECK(g.at(8, 8)[0] == g.at(11, 11)[0]);
}
