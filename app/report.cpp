#include "report.h"

#include "convert.h"
#include "render/grid.h"

#include <cstdio>

namespace preimage::app {

std::string fmt(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

render::Image restartsGrid(const InversionResult& r) {
    std::vector<render::GridCell> cells{{toBytes(r.target), "original", r.layer}};
    for (size_t i = 0; i < r.preimages.size(); ++i)
        cells.push_back({toBytes(r.preimages[i]), "restart " + std::to_string(i + 1), fmt("err %.3f", r.featureErrorPerRestart[i])});
    if (r.preimages.size() > 1) cells.push_back({toBytes(r.variance), "variance", fmt("max %.2e", r.varianceMax)});
    return render::composeGrid(cells, int(cells.size()));
}

}  // namespace preimage::app
