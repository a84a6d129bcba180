// The app's view logic that needs no window: the layer tree built from module paths, and the feature grid.
#include <doctest/doctest.h>

#include "render/feature_grid.h"
#include "widgets/layer_tree.h"

#include <string>
#include <vector>

using namespace preimage;

TEST_CASE("layer tree: module paths nest, calls of one module stay together, siblings step in execution order") {
    // A ResNet block's taps as graph_taps names them (module path, '#k' for the k-th call of a module).
    const std::vector<std::string> names = {"conv1", "layer1.0.conv1", "layer1.0.relu#1", "layer1.0.conv2", "layer1.0.relu#2",
                                            "layer1.0.downsample.0", "layer1.0.downsample", "layer1.0", "layer1", "fc"};
    const std::vector<std::string> modules = {"conv1", "layer1.0.conv1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.relu",
                                              "layer1.0.downsample.0", "layer1.0.downsample", "layer1.0", "layer1", "fc"};
    const auto t = widgets::buildLayerTree(names, modules);
    // root, conv1, layer1, layer1.0, its conv1, relu, conv2, downsample, downsample.0, fc
    CHECK(t.nodes.size() == 10);
    std::vector<std::string> top;
    for (int c : t.nodes[0].children) top.push_back(t.nodes[size_t(c)].path);
    CHECK(top == std::vector<std::string>{"conv1", "layer1", "fc"});
    const int relu = t.nodeOfTap[2];
    CHECK(t.nodeOfTap[4] == relu);  // relu#1 and relu#2: one module, two taps
    CHECK(t.nodes[size_t(relu)].taps == std::vector<int>{2, 4});
    CHECK(t.nodes[size_t(relu)].label == "relu");
    // The ancestors of downsample.0, from the top.
    std::vector<std::string> path;
    for (int n : t.ancestors(5)) path.push_back(t.nodes[size_t(n)].path);
    CHECK(path == std::vector<std::string>{"layer1", "layer1.0", "layer1.0.downsample", "layer1.0.downsample.0"});
    // Siblings of layer1.0.conv2: the children of layer1.0 in execution order, both relu calls included.
    CHECK(t.siblings(3) == std::vector<int>{1, 2, 4, 3, 6});
    // Top level: conv1, layer1 (its own tap), fc.
    CHECK(t.siblings(0) == std::vector<int>{0, 8, 9});
    CHECK(t.nodes[size_t(t.nodeOfTap[8])].first == 1);  // layer1's subtree starts at its first inner tap
}

TEST_CASE("layer tree: a plain chain is one level; names without a module path use the name") {
    const std::vector<std::string> names = {"conv1", "relu1", "fc"};
    const auto t = widgets::buildLayerTree(names, {"", "", ""});
    CHECK(t.nodes.size() == 4);
    CHECK(t.siblings(1) == std::vector<int>{0, 1, 2});
    CHECK(t.ancestors(2).size() == 1);
}

TEST_CASE("layer tree filter: every word must occur, case-insensitive") {
    CHECK(widgets::filterMatches("", "layer3.1.conv2"));
    CHECK(widgets::filterMatches("Layer3 CONV", "layer3.1.conv2"));
    CHECK_FALSE(widgets::filterMatches("layer3 relu", "layer3.1.conv2"));
}

TEST_CASE("feature grid: channels tile with gaps, each normalised; the channel under a pixel is found") {
    // 5 channels of 3x2 maps: channel c holds c+1 everywhere except one hot pixel.
    std::vector<float> v(5 * 2 * 3);
    for (int c = 0; c < 5; ++c)
        for (int i = 0; i < 6; ++i) v[size_t(c * 6 + i)] = float(c + 1) * (i == 4 ? 2.f : 1.f);
    const auto g = render::featureGrid(v.data(), {5, 2, 3});
    CHECK(g.kind == render::FeatureGrid::Maps);
    CHECK(g.channels == 5);
    CHECK(g.mapW == 3);
    CHECK(g.mapH == 2);
    CHECK(g.cols * g.rows >= 5);
    CHECK(g.image.width == g.cols * 4 - 1);
    CHECK(g.image.height == g.rows * 3 - 1);
    int c = -1, x = -1, y = -1;
    int ox = 0, oy = 0;
    g.tileOrigin(3, ox, oy);
    REQUIRE(g.locate(ox + 1, oy + 1, c, x, y));
    CHECK(c == 3);
    CHECK(x == 1);
    CHECK(y == 1);
    CHECK_FALSE(g.locate(3, 0, c, x, y));  // the gap after the first tile
    // Each tile is normalised on its own: the hot pixel is the brightest of every tile, equally bright in all.
    for (int k = 0; k < 5; ++k) {
        g.tileOrigin(k, ox, oy);
        const uint8_t* hot = g.image.at(ox + 1, oy + 1);
        const uint8_t* rest = g.image.at(ox, oy);
        CHECK(int(hot[0]) + hot[1] + hot[2] > int(rest[0]) + rest[1] + rest[2]);
        g.tileOrigin(0, ox, oy);
        CHECK(std::vector<uint8_t>(hot, hot + 3) == std::vector<uint8_t>(g.image.at(ox + 1, oy + 1), g.image.at(ox + 1, oy + 1) + 3));
    }
}

TEST_CASE("feature grid: tokens are one heat map, vectors a square of cells, signed values diverge") {
    std::vector<float> tokens(4 * 6);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = float(i) - 12.f;
    const auto t = render::featureGrid(tokens.data(), {4, 6});
    CHECK(t.kind == render::FeatureGrid::Tokens);
    CHECK(t.image.width == 6);
    CHECK(t.image.height == 4);
    int c = -1, x = -1, y = -1;
    REQUIRE(t.locate(5, 2, c, x, y));
    CHECK(c == 2);
    CHECK(x == 5);
    // Negative values blue, positive red.
    CHECK(t.image.at(0, 0)[2] > t.image.at(0, 0)[0]);
    CHECK(t.image.at(5, 3)[0] > t.image.at(5, 3)[2]);
    std::vector<float> vec(10, 1.f);
    const auto v = render::featureGrid(vec.data(), {10, 1, 1});
    CHECK(v.kind == render::FeatureGrid::Vector);
    CHECK(v.cols == 4);
    CHECK(v.rows == 3);
    REQUIRE(v.locate(1, 2, c, x, y));
    CHECK(c == 9);
    CHECK_FALSE(v.locate(2, 2, c, x, y));
}

#include "inference/data/shapes.h"

#include <cmath>
#include <map>

TEST_CASE("shapes: deterministic from (seed, index), anti-aliased, every factor moves the picture") {
    const auto a = shapeCode(7, 123), b = shapeCode(7, 123), c = shapeCode(8, 123);
    CHECK(a == b);
    CHECK(renderShape(a, 64).pixels == renderShape(b, 64).pixels);
    int differ = 0;
    for (uint64_t i = 0; i < 20; ++i) differ += shapeCode(7, i) != shapeCode(8, i);
    CHECK(differ >= 18);  // another seed, other images
    (void)c;
    // Edge pixels take values between the background and the colour (4x4 supersampling).
    ShapeCode code{1, 0, 3, 0, 2, 2, 0};  // a large red disc in the centre on black
    const auto img = renderShape(code, 64);
    int partial = 0, full = 0;
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
            const int r = img.at(x, y)[0];
            partial += r > 10 && r < 220;
            full += r >= 225;
        }
    CHECK(partial > 40);
    CHECK(full > 500);
    // Each factor alone changes the image.
    for (int k = 0; k < kShapeFactorCount; ++k) {
        ShapeCode other = code;
        other[size_t(k)] = (code[size_t(k)] + 1) % int(shapeFactors()[size_t(k)].levels.size());
        if (k == 3) other = {0, 0, 3, 0, 2, 2, 0}, code = {0, 0, 3, 2, 2, 2, 0};  // rotation: a square (a disc has none)
        CHECK(renderShape(other, 64).pixels != renderShape(code, 64).pixels);
        code = {1, 0, 3, 0, 2, 2, 0};
    }
}

TEST_CASE("shapes: factors are uniform and independent (pairwise mutual information near zero)") {
    const int n = 20000;
    std::vector<ShapeCode> codes;
    for (int i = 0; i < n; ++i) codes.push_back(shapeCode(0, uint64_t(i)));
    const auto& f = shapeFactors();
    for (int k = 0; k < kShapeFactorCount; ++k) {
        const int levels = int(f[size_t(k)].levels.size());
        std::vector<int> count(size_t(levels), 0);
        for (const auto& c : codes) ++count[size_t(c[size_t(k)])];
        for (int v : count) CHECK(std::abs(v - n / levels) < 0.1 * n / levels);
    }
    for (int a = 0; a < kShapeFactorCount; ++a)
        for (int b = a + 1; b < kShapeFactorCount; ++b) {
            std::map<std::pair<int, int>, int> joint;
            std::map<int, int> pa, pb;
            for (const auto& c : codes) ++joint[{c[size_t(a)], c[size_t(b)]}], ++pa[c[size_t(a)]], ++pb[c[size_t(b)]];
            double mi = 0;
            for (const auto& [k, v] : joint) {
                const double p = double(v) / n;
                mi += p * std::log2(p / (double(pa[k.first]) / n * double(pb[k.second]) / n));
            }
            INFO(f[size_t(a)].name << " x " << f[size_t(b)].name << ": " << mi << " bits");
            CHECK(mi < 0.01);
        }
}
