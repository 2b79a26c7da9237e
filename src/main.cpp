#include "tlsglass/cli/app.hpp"

int main(int argc, char** argv) { return tlsglass::cli::run(argc, argv); }
