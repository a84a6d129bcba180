// preimage: the GUI by default, the headless command line with a subcommand.
#include "app/cli/cli.h"

#include <iostream>

namespace preimage::app {
int runGui(const std::vector<std::string>& argv);  // gui.cpp
}

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    const bool gui = args.size() < 2 || args[1] == "gui" || args[1].rfind("--", 0) == 0;
    if (gui && !(args.size() >= 2 && (args[1] == "--help" || args[1] == "-h"))) {
        try {
            return preimage::app::runGui(args);
        } catch (const preimage::Error& e) {
            std::cerr << "preimage: " << e.what() << "\n";
            return e.exitCode();
        }
    }
    return preimage::app::runCli(args, std::cout, std::cerr);
}
