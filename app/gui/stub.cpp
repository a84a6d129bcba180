#include <iostream>
#include <string>
#include <vector>
namespace preimage::app {
int runGui(const std::vector<std::string>&) {
    std::cerr << "preimage: this build has no desktop app (configured with -DPREIMAGE_GUI=OFF); see `preimage help`\n";
    return 2;
}
}  // namespace preimage::app
