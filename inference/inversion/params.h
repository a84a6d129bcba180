// The one mapping of inversion parameters to and from JSON, with their limits and one validate(): the CLI,
// the app, its settings and scripts, exports and the sweep's resume key all go through these. Torch-free;
// any thread.
#pragma once

#include "inference/engine.h"

#include <nlohmann/json_fwd.hpp>

namespace preimage {

// The limits validate() holds parameters to (settings files out of range are clamped to them). The rate and the
// weights have no upper limit: too large a value diverges, which the inversion detects and says (which term, what
// to lower) rather than refusing a number up front.
struct InversionLimits {
    static constexpr int kMaxIterations = 100000;
    static constexpr int kMaxRestarts = 64;
    static constexpr int kMaxJitter = 32;
    static constexpr float kMinAlpha = 1.f, kMinBeta = 1.f;  // the norms' exponents
};

// The optimisers invertBatch knows, and the iterations each runs when InversionParams::iterations is 0.
const std::vector<std::string>& optimizerNames();  // {"sobolev", "paper"}
int defaultIterations(const std::string& optimizer);
inline int iterationsFor(const InversionParams& p) { return p.iterations > 0 ? p.iterations : defaultIterations(p.optimizer); }

// Throws Error naming the JSON key (as paramsToJson writes it), the command line's flag and the range.
void validate(const InversionParams& p);

// {"iterations" (null: the optimiser's own), "restarts", "seed", "learning_rate", "momentum", "alpha", "beta", "lambda_alpha",
//  "lambda_tv" (null: the paper's value for the layer's depth), "jitter", "mask": {"x", "y", "w", "h", "first", "last"}}
nlohmann::json paramsToJson(const InversionParams& p);
// Keys not given keep `base`'s values; an unknown key or a value of the wrong type is refused (Error naming it);
// the result is validated (unless !validated: a settings file, clamped by its reader instead).
InversionParams paramsFromJson(const nlohmann::json& j, InversionParams base = {}, bool validated = true);

// The numbers of one finished inversion, as `invert --json`, `sweep --json` and the app's exports write them.
nlohmann::json inversionResultJson(const InversionResult& r);

}  // namespace preimage
