// How well a code separates known factors of variation (issue 15). Plain C++, no torch: the scores are pure
// arithmetic on codes and labels, shared by `eval mixer`, the app's slider labels and the tests. Pure
// functions: any thread.
//
// - The table of Hu et al. 2018 (their Table 1 on Sprites): the nearest-neighbour mAP of every factor on every
//   chunk. Each query code ranks the gallery by Euclidean distance on one chunk; AP of a factor counts the
//   gallery items that share the query's level of that factor.
// - MIG (Chen et al. 2018) and DCI (Eastwood & Williams 2018) as disentanglement_lib computes them
//   (mig.py, dci.py): MIG on codes histogram-discretised into 20 equal-width bins, mutual information in nats,
//   the gap between the two most informative dimensions over the factor's entropy, averaged over factors.
//   DCI from the importances of gradient-boosted trees (scikit-learn's GradientBoostingClassifier defaults:
//   100 stages, depth 3, learning rate 0.1, log-loss, one regression tree per class and stage for more than two
//   classes; impurity-decrease importances averaged over the trees). One difference, stated: split points are
//   searched over 64 quantile bins of each dimension rather than every distinct value.
#pragma once

#include "inference/latent/latent.h"

#include <string>
#include <vector>

namespace preimage {

// Codes of n items, `dims` floats each (row-major), and their factor levels: labels[f][i] is item i's level
// index of factor f (0-based).
struct FactorCodes {
    int n = 0, dims = 0;
    std::vector<float> codes;
    std::vector<std::vector<int>> labels;
    const float* row(int i) const { return codes.data() + size_t(i) * size_t(dims); }
};

// mAP of each factor on each chunk: result[k][f] (chunks as rows, factors as columns); one more row at the end
// for the whole code. The first `queries` items query the others. `threads` >= 1.
std::vector<std::vector<float>> chunkFactorMap(const FactorCodes& data, const ChunkLayout& layout, int queries, int threads = 2);

struct MigResult {
    float mig = 0;
    std::vector<float> perFactor;                    // the normalised gap of each factor
    std::vector<std::vector<float>> mutualInfo;      // [dim][factor], nats
};
MigResult mutualInformationGap(const FactorCodes& data, int bins = 20);

// Multiclass gradient-boosted regression trees (see the header comment).
struct GbtOptions {
    int stages = 100, depth = 3, bins = 64;
    float learningRate = 0.1f;
};
class GradientBoostedTrees {
public:
    // x: n rows of `dims` floats; y: labels (any non-negative integers).
    void fit(const float* x, int n, int dims, const std::vector<int>& y, const GbtOptions& options = {});
    int predict(const float* row) const;
    float accuracy(const float* x, int n, const std::vector<int>& y) const;
    const std::vector<double>& importances() const { return m_importance; }  // per dimension, summing to 1 (or all 0)

    struct Node {
        int feature = -1;          // -1: a leaf
        float threshold = 0;       // go left when x[feature] <= threshold
        int left = -1, right = -1;
        double value = 0;          // a leaf's output
    };

private:
    double raw(const std::vector<Node>& tree, const float* row) const;
    int m_dims = 0;
    std::vector<int> m_classes;                      // the label of each class index
    std::vector<double> m_init;                      // initial raw score per class (one for two classes)
    std::vector<std::vector<std::vector<Node>>> m_trees;  // [stage][class tree]
    std::vector<double> m_importance;
    float m_rate = 0.1f;
};

struct DciResult {
    float disentanglement = 0, completeness = 0, informativenessTrain = 0, informativenessTest = 0;
    std::vector<std::vector<float>> importance;      // [dim][factor]
};
// Trees fitted on the first `trainCount` items, tested on the rest.
DciResult dciScores(const FactorCodes& data, int trainCount, const GbtOptions& options = {}, int threads = 2);

// The factor each chunk carries most: for chunk k, the factor f whose mAP on k is highest relative to f's mean
// mAP on the other chunks (ratio); "" when no factor's ratio reaches `minRatio`. table: chunks (+ whole code) x factors.
std::vector<std::string> chunkFactorNames(const std::vector<std::vector<float>>& table, int chunks,
                                          const std::vector<std::string>& factors, float minRatio = 1.5f);

}  // namespace preimage
