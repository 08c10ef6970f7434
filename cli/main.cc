// fsb: the command-line client of fsb-controller. Composition root: process environment
// and standard streams -> cli::Run, which builds its channel (cli::NewChannel) from the
// flags, the environment and the config file.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "internal/clock.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  fsb::cli::CliContext context;
  context.env = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  context.in = &std::cin;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.now = fsb::Clock::Real()->Now();
  int code = fsb::cli::Run(args, context);
  std::cout.flush();
  return code;
}
