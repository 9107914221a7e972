// Writes the diagrams of the example workflows shown in the docs, as Graphviz DOT and Mermaid:
//   render_diagrams <output dir>   ->  <dir>/payment_gateway.dot, <dir>/payment_gateway.mmd
// Run through scripts/render-diagrams, which builds it, renders the DOT to SVG with Graphviz and
// copies the Mermaid source into docs/observability/diagrams.md.
#include <tutti/observe/diagram.hpp>

#include "payment_gateway.hpp"

#include <cstdio>      // std::fputs
#include <filesystem>  // the output directory
#include <fstream>     // the diagram files
#include <string>      // diagram text

namespace {
bool write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  out.close();
  if (!out) {
    std::fputs(("render_diagrams: cannot write " + path.string() + "\n").c_str(), stderr);
    return false;
  }
  std::fputs(("wrote " + path.string() + "\n").c_str(), stdout);
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: render_diagrams <output dir>\n", stderr);
    return 2;
  }
  const std::filesystem::path dir{argv[1]};
  pay::services services;  // the workflow refers to them; nothing is called
  const auto payment = pay::make_payment_workflow(services);
  const bool ok = write(dir / "payment_gateway.dot", tutti::to_dot(payment)) &&
                  write(dir / "payment_gateway.mmd", tutti::to_mermaid(payment));
  return ok ? 0 : 1;
}
