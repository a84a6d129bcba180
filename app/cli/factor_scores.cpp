#include "app/cli/factor_scores.h"

#include "inference/data/convert.h"
#include "app/cli/report.h"

#include "inference/data/shapes.h"
#include "inference/data/splitmix.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace preimage::app {

FactorScores scoreFactors(Mixer& mixer, const Dataset& data, const FactorSet& factors, const StageFn& stage) {
    FactorCodes c;
    c.n = data.count;
    c.dims = mixer.layout().size();
    c.codes = encodeDataset(mixer, data);
    c.labels = factors.labels;
    if (stage) stage("encoded");
    const int threads = int(std::max(1u, std::thread::hardware_concurrency()));
    FactorScores s;
    // As the class table: the first fifth (at most 1000) query the rest.
    s.queries = std::min(1000, c.n / 5);
    s.table = chunkFactorMap(c, mixer.layout(), s.queries, threads);
    if (stage) stage("mAP table");
    s.mig = mutualInformationGap(c);
    if (stage) stage("MIG");
    // DCI: trees fitted on the first four fifths (at most 10,000, disentanglement_lib's num_train), tested on the rest.
    s.dciTrain = std::min(10000, c.n * 4 / 5);
    FactorCodes dciData = c;
    const int testCount = std::min(5000, c.n - s.dciTrain);
    dciData.n = s.dciTrain + testCount;
    dciData.codes.resize(size_t(dciData.n) * size_t(c.dims));
    for (auto& l : dciData.labels) l.resize(size_t(dciData.n));
    s.dci = dciScores(dciData, s.dciTrain, {}, threads);
    if (stage) stage("DCI");
    return s;
}

float meanBestChunkMap(const std::vector<std::vector<float>>& table, int chunks) {
    if (table.empty() || chunks < 1) return 0.f;
    const size_t F = table[0].size();
    double sum = 0;
    for (size_t f = 0; f < F; ++f) {
        float best = 0;
        for (int k = 0; k < chunks; ++k) best = std::max(best, table[size_t(k)][f]);
        sum += best;
    }
    return F ? float(sum / double(F)) : 0.f;
}

int separatedFactors(const std::vector<std::vector<float>>& table, int chunks, float ratio) {
    if (table.empty() || chunks < 2) return 0;
    int count = 0;
    for (size_t f = 0; f < table[0].size(); ++f) {
        bool found = false;
        for (int k = 0; k < chunks && !found; ++k) {
            double others = 0;
            for (int j = 0; j < chunks; ++j)
                if (j != k) others += table[size_t(j)][f];
            others /= chunks - 1;
            found = table[size_t(k)][f] >= ratio * others;
        }
        count += found;
    }
    return count;
}

void printFactorTable(std::ostream& out, const std::string& title, const FactorScores& s, const std::vector<std::string>& names) {
    const int chunks = int(s.table.size()) - 1;
    out << title << ": nearest-neighbour mAP of each factor on each chunk (" << s.queries << " queries; * the factor's best chunk)\n";
    out << "        ";
    for (const auto& n : names) out << " " << std::string(10 - std::min<size_t>(10, n.size()), ' ') << n.substr(0, 10);
    out << "\n";
    for (int k = 0; k <= chunks; ++k) {
        out << (k < chunks ? fmt("chunk %-2.0f", k) : std::string("whole   "));
        for (size_t f = 0; f < names.size(); ++f) {
            bool best = k < chunks;
            for (int j = 0; j < chunks && best; ++j) best = s.table[size_t(j)][f] <= s.table[size_t(k)][f];
            out << fmt("  %8.3f", s.table[size_t(k)][f]) << (best ? "*" : " ");
        }
        out << "\n";
    }
    out << "  mean best-chunk mAP " << fmt("%.3f", meanBestChunkMap(s.table, chunks)) << ", factors with a chunk at >= 2x its mean elsewhere: "
        << separatedFactors(s.table, chunks) << " of " << names.size() << "\n";
    out << "  MIG " << fmt("%.3f", s.mig.mig) << "; DCI disentanglement " << fmt("%.3f", s.dci.disentanglement) << ", completeness "
        << fmt("%.3f", s.dci.completeness) << ", informativeness (test accuracy) " << fmt("%.3f", s.dci.informativenessTest) << "\n";
}

AnalogyCheck checkAnalogies(Mixer& mixer, const Dataset& data, const FactorSet& factors, bool chunks, int perFactor, uint64_t seed) {
    AnalogyCheck r;
    const auto& gen = shapeFactors();
    if (factors.names.size() != gen.size() || data.width != mixer.imageSide() || data.channels != 3) return r;
    for (size_t f = 0; f < gen.size(); ++f)
        if (factors.names[f] != gen[f].name) return r;
    const int n = data.count, F = int(gen.size());
    auto codeOf = [&](int i) {
        ShapeCode c{};
        for (int f = 0; f < F; ++f) c[size_t(f)] = factors.labels[size_t(f)][size_t(i)];
        return c;
    };
    SplitMix64 stream{seed * kSplitMixGamma + 1};
    auto random = [&](uint64_t bound) { return stream.below(bound); };
    struct Triple {
        int a, b, c, f;
    };
    std::vector<Triple> triples;
    for (int f = 0; f < F; ++f) {
        // a, b: the same levels but f's (grouped by the other factors)
        std::map<std::vector<int>, std::vector<int>> groups;
        std::vector<std::vector<int>> byLevel(gen[size_t(f)].levels.size());
        for (int i = 0; i < n; ++i) {
            const ShapeCode code = codeOf(i);
            std::vector<int> key(code.begin(), code.end());
            key[size_t(f)] = -1;
            groups[key].push_back(i);
            byLevel[size_t(factors.labels[size_t(f)][size_t(i)])].push_back(i);
        }
        std::vector<std::pair<int, int>> pairs;
        for (const auto& [key, items] : groups)
            for (int a : items)
                for (int b : items)
                    if (factors.labels[size_t(f)][size_t(a)] != factors.labels[size_t(f)][size_t(b)]) pairs.push_back({a, b});
        for (int t = 0; t < perFactor && !pairs.empty(); ++t) {
            const auto [a, b] = pairs[size_t(random(pairs.size()))];
            const auto& same = byLevel[size_t(factors.labels[size_t(f)][size_t(a)])];
            int c = a;
            for (int tries = 0; c == a && tries < 20; ++tries) c = same[size_t(random(same.size()))];
            if (c != a) triples.push_back({a, b, c, f});
        }
    }
    r.triples = int(triples.size());
    r.changedByFactor.assign(size_t(F), 0.f);
    if (triples.empty()) return r;
    std::vector<ImageF> images;
    for (const auto& t : triples)
        for (int i : {t.a, t.b, t.c}) images.push_back(data.image(i));
    const auto codes = mixer.encode(images);
    std::vector<Code> ds;
    for (size_t k = 0; k < triples.size(); ++k) {
        const Code &a = codes[3 * k], &b = codes[3 * k + 1], &c = codes[3 * k + 2];
        ds.push_back(chunks ? analogyChunks(a, b, c, mixer.layout(), 1.f) : analogyVector(a, b, c, 1.f));
    }
    const auto decoded = mixer.decode(ds);
    std::vector<int> perFactorCount(size_t(F), 0);
    double changed = 0, kept = 0;
    for (size_t k = 0; k < triples.size(); ++k) {
        const auto& t = triples[k];
        ShapeCode want = codeOf(t.c);
        want[size_t(t.f)] = factors.labels[size_t(t.f)][size_t(t.b)];
        const ImageF& d = decoded[k];
        for (int g = 0; g < F; ++g) {
            int best = -1;
            double bestErr = 0;
            for (int l = 0; l < int(gen[size_t(g)].levels.size()); ++l) {
                ShapeCode probe = want;
                probe[size_t(g)] = l;
                const ImageF im = toFloat(renderShape(probe, data.width));
                double err = 0;
                for (size_t p = 0; p < im.pixels.size(); ++p) err += double(im.pixels[p] - d.pixels[p]) * double(im.pixels[p] - d.pixels[p]);
                if (best < 0 || err < bestErr) best = l, bestErr = err;
            }
            if (g == t.f) {
                const bool hit = best == want[size_t(g)];
                changed += hit;
                r.changedByFactor[size_t(g)] += float(hit);
                perFactorCount[size_t(g)]++;
            } else {
                kept += best == want[size_t(g)];
            }
        }
    }
    for (int f = 0; f < F; ++f)
        r.changedByFactor[size_t(f)] = perFactorCount[size_t(f)] ? r.changedByFactor[size_t(f)] / float(perFactorCount[size_t(f)]) : std::nanf("");
    r.changed = float(changed / double(triples.size()));
    r.kept = float(kept / double(triples.size() * size_t(F - 1)));
    return r;
}

nlohmann::json factorScoresJson(const FactorScores& s, const std::vector<std::string>& names, int chunks) {
    std::vector<std::vector<float>> rows(s.table.begin(), s.table.begin() + chunks);
    return {{"chunk_factor_map", rows},
            {"whole_code_map", s.table.back()},
            {"mean_best_chunk_map", meanBestChunkMap(s.table, chunks)},
            {"separated_factors", separatedFactors(s.table, chunks)},
            {"chunk_factor", chunkFactorNames(s.table, chunks, names)},
            {"map_queries", s.queries},
            {"mig", s.mig.mig},
            {"mig_per_factor", s.mig.perFactor},
            {"dci",
             {{"disentanglement", s.dci.disentanglement},
              {"completeness", s.dci.completeness},
              {"informativeness_train", s.dci.informativenessTrain},
              {"informativeness_test", s.dci.informativenessTest},
              {"train_codes", s.dciTrain}}}};
}

}  // namespace preimage::app
