#include <iostream>
#include <string>
#include <vector>
namespace preimage::app {
int runGui(const std::vector<std::string>&) {
    std::cerr << "preimage: the desktop app is not built yet; see `preimage help`\n";
    return 2;
}
}  // namespace preimage::app
