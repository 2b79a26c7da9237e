// The command line (DESIGN.md "Command line"): parses arguments with CLI11 and runs a
// subcommand. Exit codes: 0 ok, 1 runtime failure, 2 usage error (one-line reason).
#pragma once

namespace tlsglass::cli {

int run(int argc, char** argv);

}  // namespace tlsglass::cli
