// render/: decoding with clear errors, PNG round trip, atomic writes, grids.
#include "render/grid.h"
#include "render/image.h"
#include "test_util.h"

#include <doctest/doctest.h>
#include <stb_image_write.h>

#include <cctype>
#include <random>

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

std::string encoded(const Image& im, const std::string& format) {
    std::string out;
    auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
    if (format == "jpg") stbi_write_jpg_to_func(sink, &out, im.width, im.height, im.channels, im.pixels.data(), 90);
    if (format == "bmp") stbi_write_bmp_to_func(sink, &out, im.width, im.height, im.channels, im.pixels.data());
    if (format == "png") out = pngBytes(im);
    return out;
}

std::string errorOf(const std::string& bytes, const std::string& name = "bad.png") {
    const std::string file = testutil::path(name);
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
    CHECK(errorOf("definitely not an image, just text").find("not an image file this tool reads") != std::string::npos);
    CHECK(errorOf(good.substr(0, good.size() / 2)).find("corrupt or truncated PNG file") != std::string::npos);
    CHECK(errorOf(pngHeader(20000, 100)).find("over 16384 pixels") != std::string::npos);
    CHECK(errorOf(pngHeader(100, 100000)).find("refused") != std::string::npos);
    CHECK_THROWS_AS(loadImage(testutil::path("does-not-exist.png")), IoError);
    // Pixel count, not only the side: 16000 x 16000 is under the side limit but would take gigabytes.
    CHECK(errorOf(pngHeader(16000, 16000)) ==
          "'" + testutil::path("bad.png") + "' is 16000x16000 (256 megapixels): images over 67 megapixels are refused (downscale it first)");
    CHECK(errorOf(pngHeader(8192, 8192)).find("refused") == std::string::npos);  // 67 Mpx: allowed (truncated here)
    // A folder.
    CHECK_THROWS_WITH_AS(loadImage(testutil::scratch().string()), doctest::Contains("is a folder, not an image file"), IoError);
}

TEST_CASE("truncated BMP and JPEG files are refused with the format named, not decoded half black") {
    const Image im = gradient(40, 30, 3);
    const std::string bmp = encoded(im, "bmp"), jpg = encoded(im, "jpg");
    REQUIRE(loadImage((testutil::writeBytes(testutil::path("ok.bmp"), bmp), testutil::path("ok.bmp"))).pixels == im.pixels);
    REQUIRE(loadImage((testutil::writeBytes(testutil::path("ok.jpg"), jpg), testutil::path("ok.jpg"))).width == 40);
    CHECK(errorOf(bmp.substr(0, bmp.size() / 2), "half.bmp") ==
          "'" + testutil::path("half.bmp") + "' is a truncated BMP file: its pixel data ends after 14 of 30 rows");
    CHECK(errorOf(jpg.substr(0, jpg.size() * 2 / 3), "cut.jpg") ==
          "'" + testutil::path("cut.jpg") + "' is a truncated JPEG file (no end-of-image marker)");
    CHECK(errorOf(jpg.substr(0, 40), "head.jpg").find("truncated JPEG file") != std::string::npos);
    CHECK(errorOf(jpg.substr(0, jpg.size() - 2), "noeoi.jpg").find("no end-of-image marker") != std::string::npos);
}

// Mutated PNG, JPEG and BMP files through the loader: each gives a valid image or a clean error (one printable
// line naming the file, no empty reason), never a crash; a file cut before 90% of its length is never accepted.
TEST_CASE("fuzz: mutated PNG, JPEG and BMP files load or fail cleanly") {
    std::mt19937 rng(1234);
    int accepted = 0, refused = 0;
    for (const std::string format : {"png", "jpg", "bmp"}) {
        for (int c : {1, 3}) {
            const std::string good = encoded(gradient(48, 40, c), format);
            REQUIRE(!good.empty());
            for (int trial = 0; trial < 60; ++trial) {
                std::string bytes = good;
                const int kind = trial % 5;
                bool mustRefuse = false;
                auto pos = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
                if (kind == 0) {  // cut short
                    const size_t cut = pos(bytes.size());
                    bytes.resize(cut);
                    mustRefuse = cut < good.size() * 9 / 10;
                } else if (kind == 1) {  // flipped bits
                    for (int k = 0; k < 1 + trial % 7; ++k) bytes[pos(bytes.size())] ^= char(1 << (rng() % 8));
                } else if (kind == 2) {  // a header byte overwritten (sizes, offsets, bit depths)
                    bytes[pos(std::min<size_t>(bytes.size(), 64))] = char(rng());
                } else if (kind == 3) {  // random bytes inserted
                    bytes.insert(pos(bytes.size()), std::string(1 + rng() % 32, char(rng())));
                } else {  // a run of the file duplicated
                    const size_t a = pos(bytes.size()), n = std::min<size_t>(bytes.size() - a, 1 + rng() % 200);
                    bytes.insert(pos(bytes.size()), bytes.substr(a, n));
                }
                const std::string name = "fuzz." + format;
                try {
                    Image im = decodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
                    CHECK_MESSAGE(!mustRefuse, format << " cut at " << bytes.size() << " of " << good.size() << " accepted");
                    CHECK(im.width > 0);
                    CHECK(im.height > 0);
                    CHECK((im.channels == 1 || im.channels == 3));
                    CHECK(im.pixels.size() == size_t(im.width) * im.height * im.channels);
                    accepted++;
                } catch (const IoError& e) {
                    const std::string what = e.what();
                    CHECK(what.rfind("'" + name + "' ", 0) == 0);
                    CHECK(what.find("()") == std::string::npos);
                    for (char ch : what) CHECK_MESSAGE(std::isprint(static_cast<unsigned char>(ch)), what);
                    refused++;
                }
            }
        }
    }
    CHECK(accepted + refused == 360);
    CHECK(refused > 60);  // every cut-short file, at least
    MESSAGE("fuzz: " << accepted << " accepted, " << refused << " refused");
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

TEST_CASE("grid titles wider than their images stay apart (MobileNet's tap names)") {
    std::vector<GridCell> cells;
    for (const char* t : {"features.expanded_conv_10", "features.expanded_conv_13"}) cells.push_back({gradient(28, 28, 1), t, "err 0.3"});
    Image g = composeGrid(cells, 2, 112);
    // The title row: the last inked column of the first title and the first of the second, at least 16 px apart.
    int lastOfFirst = -1, firstOfSecond = -1;
    const int mid = g.width / 2;
    for (int x = 0; x < g.width; ++x)
        for (int y = 8 + 112 + 4; y < 8 + 112 + 16; ++y)
            if (g.at(x, y)[0] > 200) {
                if (x < mid) lastOfFirst = std::max(lastOfFirst, x);
                else if (firstOfSecond < 0) firstOfSecond = x;
            }
    REQUIRE(lastOfFirst > 0);
    REQUIRE(firstOfSecond > 0);
    CHECK(firstOfSecond - lastOfFirst >= 16);
}
