// vrec: video recommendation engine. Flag parsing and wiring only; the work lives in src/vrec.
#include <cstdio>

#include "apps/vrec/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"vrec: a self-hosted video recommendation engine"};
  app.require_subcommand(1);
  std::function<vrec::Status()> run;
  vrec::app::AddDataCommands(app, run);
  vrec::app::AddEvalCommand(app, run);
  vrec::app::AddModelsCommand(app, run);
  vrec::app::AddPipelineCommand(app, run);
  vrec::app::AddServeCommand(app, run);
  vrec::app::AddConfigCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!run) {
    std::fprintf(stderr, "error: no command given; see vrec --help\n");
    return 2;
  }
  vrec::Status status = run();
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
