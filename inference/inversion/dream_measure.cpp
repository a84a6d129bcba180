// The numbers that come with every preferred input (dream.h measureDream): the network's probability of the
// intended class on the image and under random crops and scales of it (robustness), and a second network's rank of
// the class (transfer).
#include "inference/inversion/dream.h"

#include "inference/inversion/dream_unit.h"
#include "inference/inversion/image_param.h"
#include "inference/model/model_impl.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

namespace preimage {

void checkJudge(const Model& classifier, const Model& judge, const std::string& judgePath) {
    const int k = classifier.classCount();
    if (k == 0) throw Error("--judge: the model's output is not a vector of class scores, so there is no class to judge");
    std::string shape;
    for (int64_t d : judge.outputShape()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    if (judge.classCount() != k)
        throw Error("--judge " + judgePath + ": its output (" + shape + ") is not " + std::to_string(k) +
                    " class scores; a judge is a classifier of the model's " + std::to_string(k) + " classes, in the same order");
}

void measureDream(Model& classifier, DreamResult& r, Model* judge, int crops, uint64_t seed) {
    if (r.image.empty()) return;
    auto& M = classifier.impl();
    const DreamUnit unit = parseDreamUnit(classifier, r.unit);
    torch::NoGradGuard noGrad;
    auto mean = torch::tensor(M.input.mean).view({1, -1, 1, 1}).to(M.device);
    auto std = torch::tensor(M.input.std).view({1, -1, 1, 1}).to(M.device);
    auto x = imageToTensor(r.image).unsqueeze(0).to(M.device);
    auto gen = at::detail::createCPUGenerator(seed ^ 0x726f6275ull);
    crops = std::max(1, crops);
    auto views = fv::robustnessCrops(x, crops, int(x.size(2)), int(x.size(3)), gen);
    r.robustCrops = crops;
    r.robustActivation = unitActivation(unitFeatures(M, (views - mean) / std, unit), unit).mean().item<float>();
    if (!unit.classUnit) return;
    auto probabilities = [&](const torch::Tensor& images) {
        return torch::softmax(M.forwardAll((images - mean) / std).flatten(1), 1).select(1, unit.channel);
    };
    r.probability = probabilities(x).item<float>();
    r.robustProbability = probabilities(views).mean().item<float>();
    if (!judge) return;
    checkJudge(classifier, *judge, judge->name());
    const auto scores = judge->logits({judge->prepare(r.image)}).at(0);
    const float mine = scores[size_t(unit.channel)];
    r.judge = judge->name();
    r.judgeRank = 1 + int(std::count_if(scores.begin(), scores.end(), [&](float s) { return s > mine; }));
    auto p = torch::softmax(torch::tensor(scores), 0);
    r.judgeProbability = p[unit.channel].item<float>();
    auto top = p.topk(5);
    r.judgeTop5.clear();
    for (int i = 0; i < 5; ++i)
        r.judgeTop5.emplace_back(int(std::get<1>(top)[i].item<int64_t>()), std::get<0>(top)[i].item<float>());
}

}  // namespace preimage
