#include "inference/latent/disentangle.h"

#include "inference/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <numeric>
#include <thread>

namespace preimage {
namespace {

// Runs body(i) for i in [0, n) on `threads` threads.
template <typename Body>
void parallelFor(int n, int threads, const Body& body) {
    std::atomic<int> next{0};
    auto work = [&] {
        for (int i; (i = next++) < n;) body(i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::clamp(threads, 1, 64); ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
}

void checkData(const FactorCodes& d) {
    if (d.n < 2 || d.dims < 1 || d.codes.size() != size_t(d.n) * size_t(d.dims)) throw Error("factor scores: need at least 2 codes");
    for (const auto& l : d.labels)
        if (l.size() != size_t(d.n)) throw Error("factor scores: every factor needs one label per code");
}

}  // namespace

std::vector<std::vector<float>> chunkFactorMap(const FactorCodes& d, const ChunkLayout& L, int queries, int threads) {
    checkData(d);
    if (L.size() != d.dims) throw Error("factor mAP: the codes do not have the chunk layout's size");
    if (queries < 1 || queries >= d.n) throw Error("factor mAP: the queries must leave a gallery");
    const int F = int(d.labels.size()), rows = L.chunks + 1, G = d.n - queries;
    // sums[q][row][f]: each query's AP, added up after the threads finish (no shared writes).
    std::vector<double> ap(static_cast<size_t>(queries) * size_t(rows) * size_t(F), 0.0);
    parallelFor(queries, threads, [&](int q) {
        std::vector<float> dist(static_cast<size_t>(G));
        std::vector<int> order(static_cast<size_t>(G));
        for (int r = 0; r < rows; ++r) {
            const int from = r < L.chunks ? r * L.dims : 0, to = r < L.chunks ? from + L.dims : d.dims;
            const float* a = d.row(q);
            for (int g = 0; g < G; ++g) {
                const float* b = d.row(queries + g);
                float s = 0;
                for (int k = from; k < to; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
                dist[size_t(g)] = s;
            }
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return dist[size_t(x)] < dist[size_t(y)]; });
            for (int f = 0; f < F; ++f) {
                const auto& lab = d.labels[size_t(f)];
                const int want = lab[size_t(q)];
                double hits = 0, sum = 0;
                for (int rank = 0; rank < G; ++rank)
                    if (lab[size_t(queries + order[size_t(rank)])] == want) {
                        hits += 1;
                        sum += hits / double(rank + 1);
                    }
                ap[(size_t(q) * size_t(rows) + size_t(r)) * size_t(F) + size_t(f)] = hits > 0 ? sum / hits : 0.0;
            }
        }
    });
    std::vector<std::vector<float>> out(static_cast<size_t>(rows), std::vector<float>(size_t(F), 0.f));
    for (int r = 0; r < rows; ++r)
        for (int f = 0; f < F; ++f) {
            double s = 0;
            for (int q = 0; q < queries; ++q) s += ap[(size_t(q) * size_t(rows) + size_t(r)) * size_t(F) + size_t(f)];
            out[size_t(r)][size_t(f)] = float(s / queries);
        }
    return out;
}

MigResult mutualInformationGap(const FactorCodes& d, int bins) {
    checkData(d);
    if (bins < 2) throw Error("MIG: need at least 2 bins");
    const int F = int(d.labels.size());
    // Histogram discretisation as disentanglement_lib's: np.digitize(x, np.histogram(x, bins)[1][:-1]), bins 1..B.
    std::vector<std::vector<int>> z(static_cast<size_t>(d.dims), std::vector<int>(size_t(d.n)));
    for (int j = 0; j < d.dims; ++j) {
        float lo = d.row(0)[j], hi = lo;
        for (int i = 0; i < d.n; ++i) lo = std::min(lo, d.row(i)[j]), hi = std::max(hi, d.row(i)[j]);
        const double width = (double(hi) - double(lo)) / bins;
        for (int i = 0; i < d.n; ++i) {
            int b = 0;
            if (width > 0) {
                // the number of left edges lo + k * width (k = 0..bins-1) that are <= x
                b = int(std::floor((double(d.row(i)[j]) - lo) / width)) + 1;
                b = std::clamp(b, 1, bins);
            } else {
                b = 1;
            }
            z[size_t(j)][size_t(i)] = b - 1;
        }
    }
    auto entropy = [&](const std::vector<int>& v) {
        std::map<int, int> count;
        for (int x : v) count[x]++;
        double h = 0;
        for (const auto& [k, c] : count) {
            const double p = double(c) / d.n;
            h -= p * std::log(p);
        }
        return h;
    };
    MigResult r;
    r.mutualInfo.assign(size_t(d.dims), std::vector<float>(size_t(F), 0.f));
    for (int f = 0; f < F; ++f) {
        const auto& v = d.labels[size_t(f)];
        const int levels = *std::max_element(v.begin(), v.end()) + 1;
        std::vector<double> pv(static_cast<size_t>(levels), 0);
        for (int x : v) pv[size_t(x)] += 1.0 / d.n;
        for (int j = 0; j < d.dims; ++j) {
            std::vector<double> joint(static_cast<size_t>(bins) * size_t(levels), 0), pz(size_t(bins), 0);
            for (int i = 0; i < d.n; ++i) {
                joint[size_t(z[size_t(j)][size_t(i)]) * size_t(levels) + size_t(v[size_t(i)])] += 1.0 / d.n;
                pz[size_t(z[size_t(j)][size_t(i)])] += 1.0 / d.n;
            }
            double mi = 0;
            for (int b = 0; b < bins; ++b)
                for (int l = 0; l < levels; ++l) {
                    const double p = joint[size_t(b) * size_t(levels) + size_t(l)];
                    if (p > 0) mi += p * std::log(p / (pz[size_t(b)] * pv[size_t(l)]));
                }
            r.mutualInfo[size_t(j)][size_t(f)] = float(mi);
        }
        std::vector<float> col;
        for (int j = 0; j < d.dims; ++j) col.push_back(r.mutualInfo[size_t(j)][size_t(f)]);
        std::sort(col.rbegin(), col.rend());
        const double h = entropy(v);
        r.perFactor.push_back(h > 0 ? float((col[0] - (col.size() > 1 ? col[1] : 0.f)) / h) : 0.f);
    }
    r.mig = F ? float(std::accumulate(r.perFactor.begin(), r.perFactor.end(), 0.0) / F) : 0.f;
    return r;
}

// ---- gradient-boosted trees ----

namespace {

// A regression tree of `depth` fitted to residuals `r` on the rows `rows`, on pre-binned features; the leaves get
// their values from `leafValue(rows of the leaf)`; `importance` receives the impurity decrease of each split.
struct TreeBuilder {
    int n, dims, bins, depth;
    const std::vector<uint8_t>& binned;          // [dim][n]
    const std::vector<std::vector<float>>& edges;  // per dim: the upper edge of each bin
    const std::vector<double>& r;

    template <typename LeafValue>
    int build(std::vector<GradientBoostedTrees::Node>& tree, std::vector<int>& rows, int level, const LeafValue& leafValue,
              std::vector<double>& importance) {
        const int id = int(tree.size());
        tree.push_back({});
        double sum = 0;
        for (int i : rows) sum += r[size_t(i)];
        const double count = double(rows.size());
        int bestF = -1, bestB = -1;
        double bestGain = 1e-12;
        if (level < depth && rows.size() >= 2) {
            std::vector<double> hs(static_cast<size_t>(bins)), hc(static_cast<size_t>(bins));
            for (int f = 0; f < dims; ++f) {
                std::fill(hs.begin(), hs.end(), 0.0);
                std::fill(hc.begin(), hc.end(), 0.0);
                const uint8_t* col = binned.data() + size_t(f) * size_t(n);
                for (int i : rows) {
                    hs[col[i]] += r[size_t(i)];
                    hc[col[i]] += 1;
                }
                double ls = 0, lc = 0;
                for (int b = 0; b + 1 < int(edges[size_t(f)].size()); ++b) {
                    ls += hs[size_t(b)];
                    lc += hc[size_t(b)];
                    const double rc = count - lc;
                    if (lc < 1 || rc < 1) continue;
                    const double diff = ls / lc - (sum - ls) / rc;
                    const double gain = lc * rc / count * diff * diff;  // the decrease of the squared error
                    if (gain > bestGain) bestGain = gain, bestF = f, bestB = b;
                }
            }
        }
        if (bestF < 0) {
            tree[size_t(id)].value = leafValue(rows);
            return id;
        }
        importance[size_t(bestF)] += bestGain;
        std::vector<int> left, right;
        const uint8_t* col = binned.data() + size_t(bestF) * size_t(n);
        for (int i : rows) (col[i] <= bestB ? left : right).push_back(i);
        rows.clear();
        rows.shrink_to_fit();
        tree[size_t(id)].feature = bestF;
        tree[size_t(id)].threshold = edges[size_t(bestF)][size_t(bestB)];
        const int l = build(tree, left, level + 1, leafValue, importance);
        const int rr = build(tree, right, level + 1, leafValue, importance);
        tree[size_t(id)].left = l;
        tree[size_t(id)].right = rr;
        return id;
    }
};

}  // namespace

double GradientBoostedTrees::raw(const std::vector<Node>& tree, const float* row) const {
    int i = 0;
    while (tree[size_t(i)].feature >= 0) i = row[tree[size_t(i)].feature] <= tree[size_t(i)].threshold ? tree[size_t(i)].left : tree[size_t(i)].right;
    return tree[size_t(i)].value;
}

void GradientBoostedTrees::fit(const float* x, int n, int dims, const std::vector<int>& y, const GbtOptions& o) {
    if (n < 2 || dims < 1 || int(y.size()) != n) throw Error("gradient-boosted trees: need at least 2 labelled rows");
    if (o.bins < 2 || o.bins > 256 || o.depth < 1 || o.stages < 1) throw Error("gradient-boosted trees: bad options");
    m_dims = dims;
    m_rate = o.learningRate;
    m_classes = y;
    std::sort(m_classes.begin(), m_classes.end());
    m_classes.erase(std::unique(m_classes.begin(), m_classes.end()), m_classes.end());
    const int K = int(m_classes.size());
    std::vector<int> yi(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) yi[size_t(i)] = int(std::lower_bound(m_classes.begin(), m_classes.end(), y[size_t(i)]) - m_classes.begin());
    m_trees.clear();
    m_importance.assign(size_t(dims), 0.0);
    if (K < 2) {
        m_init.assign(1, 0.0);
        return;
    }
    // Bins: up to `bins` quantiles of each dimension; a value's bin is the first whose upper edge is >= it.
    std::vector<std::vector<float>> edges(static_cast<size_t>(dims));
    std::vector<uint8_t> binned(static_cast<size_t>(dims) * size_t(n));
    for (int f = 0; f < dims; ++f) {
        std::vector<float> v(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) v[size_t(i)] = x[size_t(i) * size_t(dims) + size_t(f)];
        std::vector<float> sorted = v;
        std::sort(sorted.begin(), sorted.end());
        auto& e = edges[size_t(f)];
        for (int b = 1; b <= o.bins; ++b) {
            const float q = sorted[size_t(std::min<long>(n - 1, std::lround(double(b) * n / o.bins) - 1))];
            if (e.empty() || q > e.back()) e.push_back(q);
        }
        // split thresholds half-way between a bin's top and the next value (as exact splits place them)
        for (size_t b = 0; b + 1 < e.size(); ++b) {
            const auto next = std::upper_bound(sorted.begin(), sorted.end(), e[b]);
            if (next != sorted.end()) e[b] = 0.5f * (e[b] + *next);
        }
        for (int i = 0; i < n; ++i)
            binned[size_t(f) * size_t(n) + size_t(i)] = uint8_t(std::lower_bound(e.begin(), e.end(), v[size_t(i)]) - e.begin());
    }
    const int trees = K == 2 ? 1 : K;
    // Initial raw scores: the log-odds of the prior (two classes) or the log priors (more).
    std::vector<double> prior(static_cast<size_t>(K), 0);
    for (int c : yi) prior[size_t(c)] += 1.0 / n;
    m_init.clear();
    if (K == 2) m_init.push_back(std::log(prior[1] / prior[0]));
    else
        for (double p : prior) m_init.push_back(std::log(p));
    std::vector<double> F(static_cast<size_t>(n) * size_t(trees));
    for (int i = 0; i < n; ++i)
        for (int k = 0; k < trees; ++k) F[size_t(i) * size_t(trees) + size_t(k)] = m_init[size_t(k)];
    std::vector<double> r(static_cast<size_t>(n)), p(size_t(n) * size_t(trees));
    TreeBuilder builder{n, dims, o.bins, o.depth, binned, edges, r};
    for (int s = 0; s < o.stages; ++s) {
        // probabilities of the current raw scores
        for (int i = 0; i < n; ++i) {
            double* f = &F[size_t(i) * size_t(trees)];
            double* pi = &p[size_t(i) * size_t(trees)];
            if (K == 2) {
                pi[0] = 1.0 / (1.0 + std::exp(-f[0]));
            } else {
                const double m = *std::max_element(f, f + trees);
                double z = 0;
                for (int k = 0; k < trees; ++k) z += (pi[k] = std::exp(f[k] - m));
                for (int k = 0; k < trees; ++k) pi[k] /= z;
            }
        }
        std::vector<std::vector<Node>> stage;
        for (int k = 0; k < trees; ++k) {
            const int target = K == 2 ? 1 : k;
            for (int i = 0; i < n; ++i) r[size_t(i)] = (yi[size_t(i)] == target ? 1.0 : 0.0) - p[size_t(i) * size_t(trees) + size_t(k)];
            // Newton leaf values of the log-loss (scikit-learn's _update_terminal_region)
            auto leaf = [&](const std::vector<int>& rows) {
                double num = 0, den = 0;
                for (int i : rows) {
                    const double ri = r[size_t(i)];
                    num += ri;
                    den += K == 2 ? p[size_t(i)] * (1 - p[size_t(i)]) : std::abs(ri) * (1 - std::abs(ri));
                }
                if (K > 2) num *= double(K - 1) / K;
                return std::abs(den) < 1e-150 ? 0.0 : num / den;
            };
            std::vector<Node> tree;
            std::vector<int> rows(static_cast<size_t>(n));
            std::iota(rows.begin(), rows.end(), 0);
            std::vector<double> imp(static_cast<size_t>(dims), 0.0);
            builder.build(tree, rows, 0, leaf, imp);
            if (tree.size() > 1) {
                // per-tree importances as scikit-learn's compute_feature_importances(normalize=False): over the root's count
                for (int f = 0; f < dims; ++f) m_importance[size_t(f)] += imp[size_t(f)] / n;
            }
            for (int i = 0; i < n; ++i) F[size_t(i) * size_t(trees) + size_t(k)] += o.learningRate * raw(tree, x + size_t(i) * size_t(dims));
            stage.push_back(std::move(tree));
        }
        m_trees.push_back(std::move(stage));
    }
    const double total = std::accumulate(m_importance.begin(), m_importance.end(), 0.0);
    // scikit-learn averages over the trees that split, then normalises: the sum, normalised, is the same
    for (auto& v : m_importance) v = total > 0 ? v / total : 0.0;
}

int GradientBoostedTrees::predict(const float* row) const {
    if (m_classes.empty()) return 0;
    if (m_classes.size() == 1) return m_classes[0];
    const int trees = m_classes.size() == 2 ? 1 : int(m_classes.size());
    std::vector<double> f(m_init);
    for (const auto& stage : m_trees)
        for (int k = 0; k < trees; ++k) f[size_t(k)] += m_rate * raw(stage[size_t(k)], row);
    if (trees == 1) return m_classes[f[0] > 0 ? 1 : 0];
    return m_classes[size_t(std::max_element(f.begin(), f.end()) - f.begin())];
}

float GradientBoostedTrees::accuracy(const float* x, int n, const std::vector<int>& y) const {
    int hits = 0;
    for (int i = 0; i < n; ++i) hits += predict(x + size_t(i) * size_t(m_dims)) == y[size_t(i)];
    return n ? float(hits) / float(n) : 0.f;
}

DciResult dciScores(const FactorCodes& d, int trainCount, const GbtOptions& o, int threads) {
    checkData(d);
    if (trainCount < 2 || trainCount >= d.n) throw Error("DCI: the training part must leave test codes");
    const int F = int(d.labels.size()), D = d.dims, testCount = d.n - trainCount;
    DciResult r;
    r.importance.assign(size_t(D), std::vector<float>(size_t(F), 0.f));
    std::vector<float> accTrain(static_cast<size_t>(F)), accTest(static_cast<size_t>(F));
    parallelFor(F, threads, [&](int f) {
        const auto& lab = d.labels[size_t(f)];
        GradientBoostedTrees gbt;
        gbt.fit(d.codes.data(), trainCount, D, std::vector<int>(lab.begin(), lab.begin() + trainCount), o);
        for (int j = 0; j < D; ++j) r.importance[size_t(j)][size_t(f)] = float(std::abs(gbt.importances()[size_t(j)]));
        accTrain[size_t(f)] = gbt.accuracy(d.codes.data(), trainCount, std::vector<int>(lab.begin(), lab.begin() + trainCount));
        accTest[size_t(f)] = gbt.accuracy(d.row(trainCount), testCount, std::vector<int>(lab.begin() + trainCount, lab.end()));
    });
    // disentanglement_lib's dci.py: entropies with base = the other axis's length, weights by relative importance.
    auto entropyBase = [](const std::vector<double>& v, double base) {
        double s = 0;
        for (double x : v) s += x + 1e-11;
        double h = 0;
        for (double x : v) {
            const double p = (x + 1e-11) / s;
            h -= p * std::log(p);
        }
        return h / std::log(base);
    };
    double total = 0;
    for (const auto& row : r.importance)
        for (float v : row) total += v;
    if (total > 0) {
        for (int j = 0; j < D; ++j) {
            std::vector<double> row(r.importance[size_t(j)].begin(), r.importance[size_t(j)].end());
            const double weight = std::accumulate(row.begin(), row.end(), 0.0) / total;
            r.disentanglement += float(weight * (1.0 - (F > 1 ? entropyBase(row, F) : 0.0)));
        }
        for (int f = 0; f < F; ++f) {
            std::vector<double> col;
            for (int j = 0; j < D; ++j) col.push_back(r.importance[size_t(j)][size_t(f)]);
            const double weight = std::accumulate(col.begin(), col.end(), 0.0) / total;
            r.completeness += float(weight * (1.0 - (D > 1 ? entropyBase(col, D) : 0.0)));
        }
    }
    r.informativenessTrain = float(std::accumulate(accTrain.begin(), accTrain.end(), 0.0) / std::max(1, F));
    r.informativenessTest = float(std::accumulate(accTest.begin(), accTest.end(), 0.0) / std::max(1, F));
    return r;
}

std::vector<std::string> chunkFactorNames(const std::vector<std::vector<float>>& table, int chunks,
                                          const std::vector<std::string>& factors, float minRatio) {
    std::vector<std::string> out(static_cast<size_t>(chunks));
    if (int(table.size()) < chunks || chunks < 2) return out;
    for (int k = 0; k < chunks; ++k) {
        double best = 0;
        for (size_t f = 0; f < factors.size() && f < table[size_t(k)].size(); ++f) {
            double others = 0;
            for (int j = 0; j < chunks; ++j)
                if (j != k) others += table[size_t(j)][f];
            others /= chunks - 1;
            const double ratio = others > 0 ? table[size_t(k)][f] / others : 0.0;
            if (ratio >= minRatio && ratio > best) best = ratio, out[size_t(k)] = factors[f];
        }
    }
    return out;
}

}  // namespace preimage
