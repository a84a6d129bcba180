// The paper's table on a dataset's known factors (inference/data/factors.h): `eval mixer --data DIR` for the
// mixer and its autoencoder baseline. The command's thread.
#pragma once

#include "inference/data/factors.h"

#include "inference/latent/disentangle.h"
#include "inference/latent/mixer.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace preimage::app {

// The scores of one model's codes: the chunk x factor mAP table (with the whole code as a last row), MIG, DCI.
struct FactorScores {
    std::vector<std::vector<float>> table;
    MigResult mig;
    DciResult dci;
    int queries = 0, dciTrain = 0;
};
using StageFn = std::function<void(const std::string&)>;
FactorScores scoreFactors(Mixer& mixer, const Dataset& data, const FactorSet& factors, const StageFn& stage = {});

// Prints a table with chunks as rows and factors as columns (the paper's layout), with each factor's best chunk
// marked, and the summary line (mean best-chunk mAP, MIG, DCI).
void printFactorTable(std::ostream& out, const std::string& title, const FactorScores& s, const std::vector<std::string>& names);

// The summary the targets are stated in: mean over factors of the best chunk's mAP; and the number of
// factors with a chunk whose mAP is at least twice its mean on the other chunks.
float meanBestChunkMap(const std::vector<std::vector<float>>& table, int chunks);
int separatedFactors(const std::vector<std::vector<float>>& table, int chunks, float ratio = 2.f);

// Analogies checked against the factors, on a shapes folder (`preimage data shapes`: its renderer is known). From
// the data, triples a, b, c where a and b differ in exactly one factor f and c shares a's level of f; the right d is
// c with b's level of f. d = Dec(code) with code = c + (b - a) (`chunks` false) or c with b's chunks wherever a
// and b differ (`chunks` true, threshold 1). Each factor of d is read off by rendering the right answer with every
// level of that factor and taking the nearest in pixels: `changed` is how often f reads as b's level, `kept` how
// often every other factor reads as c's. Up to `perFactor` triples per factor (seeded). Empty (triples 0) when
// the factors are not the shapes generator's.
struct AnalogyCheck {
    int triples = 0;
    std::vector<float> changedByFactor;  // per factor f: the share of its triples where d's f is b's level
    float changed = 0, kept = 0;         // over all triples; kept over all (triple, other factor) pairs
};
AnalogyCheck checkAnalogies(Mixer& mixer, const Dataset& data, const FactorSet& factors, bool chunks, int perFactor = 40,
                            uint64_t seed = 1);

// JSON of a model's scores: {chunk_factor_map, whole_code_map, mig, mig_per_factor, dci{...}, mean_best_chunk_map,
// separated_factors, chunk_factor}.
nlohmann::json factorScoresJson(const FactorScores& s, const std::vector<std::string>& names, int chunks);

}  // namespace preimage::app
