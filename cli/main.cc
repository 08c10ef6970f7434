// fsb: the command-line client of fsb-controller. Composition root: process environment,
// gRPC channel and standard streams -> cli::Run.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "internal/clock.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  fsb::cli::CliContext context;
  context.env = [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  context.connect = [](const std::string& endpoint) {
    return fastpath::v1::FastPathService::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  };
  context.in = &std::cin;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.now = fsb::Clock::Real()->Now();
  int code = fsb::cli::Run(args, context);
  std::cout.flush();
  return code;
}
