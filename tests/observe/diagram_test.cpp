// Diagrams: the DOT and Mermaid output is parsed back (a small parser for each, strict about
// what it accepts) and compared as sets of nodes and edges, never as pasted text.
#include <catch2/catch.hpp>

#include <tutti/observe/diagram.hpp>
#include <tutti/tutti.hpp>

#include "payment_gateway.hpp"

#include <cctype>       // identifier characters
#include <chrono>       // policy settings
#include <filesystem>   // the committed diagrams, next to this file's repository
#include <fstream>      // reading them
#include <map>          // parsed attributes
#include <regex>        // Mermaid lines
#include <set>          // node and edge sets
#include <sstream>      // reading files, splitting lines
#include <string>       // labels
#include <string_view>  // policy names
#include <utility>      // std::move
#include <vector>       // tokens

using namespace std::chrono_literals;

namespace {

// ---- what a diagram shows, independent of its format ------------------------------------------

/// Nodes as "kind: line | line @cluster", edges as "from -kind-> to" (by the first line of the
/// label of each end), clusters as their label lines: readable when a comparison fails.
struct drawing {
  std::string title;
  std::set<std::string> nodes;
  std::set<std::string> edges;
  std::set<std::string> clusters;
};

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) out += (i == 0 ? "" : " | ") + lines[i];
  return out;
}

std::vector<std::string> split(const std::string& text, const std::string& separator) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (std::size_t at; (at = text.find(separator, from)) != std::string::npos;
       from = at + separator.size())
    out.push_back(text.substr(from, at - from));
  out.push_back(text.substr(from));
  return out;
}

struct parsed_node {
  std::vector<std::string> lines;
  std::string kind;     // step, compensable, pivot, undo, choice
  std::string cluster;  // first label line of the innermost cluster; empty at the top
};
struct parsed_edge {
  std::string from, to, kind;  // kind: sequence, compensation, data
  std::map<std::string, std::string> attrs;
  std::string label;  // a choice's edge to a case: the case's index
};

drawing to_drawing(const std::string& title, const std::map<std::string, parsed_node>& nodes,
                   const std::vector<parsed_edge>& edges,
                   const std::vector<std::vector<std::string>>& clusters) {
  drawing d;
  d.title = title;
  for (const auto& [id, n] : nodes)
    d.nodes.insert(n.kind + ": " + join(n.lines) + " @" + n.cluster);
  for (const parsed_edge& e : edges) {
    REQUIRE(nodes.count(e.from) == 1);
    REQUIRE(nodes.count(e.to) == 1);
    d.edges.insert(nodes.at(e.from).lines.front() + " -" + e.kind +
                   (e.label.empty() ? "" : "[" + e.label + "]") + "-> " +
                   nodes.at(e.to).lines.front());
  }
  for (const auto& c : clusters) d.clusters.insert(join(c));
  return d;
}

// ---- DOT ------------------------------------------------------------------------------------

struct dot_token {
  std::string text;
  bool punct = false;
  bool quoted = false;
};

/// Tokens of the DOT subset tutti writes; any other character fails the test.
std::vector<dot_token> dot_tokens(const std::string& s) {
  std::vector<dot_token> out;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == ' ' || c == '\n') {
      ++i;
    } else if (c == '"') {
      std::string text;
      for (++i;; ++i) {
        REQUIRE(i < s.size());
        const char d = s[i];
        if (d == '"') break;
        INFO("a raw control character in a DOT string");
        REQUIRE(static_cast<unsigned char>(d) >= 0x20);
        if (d == '\\') {
          ++i;
          REQUIRE(i < s.size());
          INFO("an escape DOT would read differently: \\" << s[i]);
          REQUIRE((s[i] == '"' || s[i] == '\\' || s[i] == 'n'));
          text += s[i] == 'n' ? '\n' : s[i];
        } else {
          text += d;
        }
      }
      ++i;
      out.push_back({text, false, true});
    } else if (s.compare(i, 2, "->") == 0) {
      out.push_back({"->", true, false});
      i += 2;
    } else if (std::string_view{"{}[]=;,"}.find(c) != std::string_view::npos) {
      out.push_back({std::string{c}, true, false});
      ++i;
    } else {
      std::string text;
      while (i < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '_' || s[i] == '.'))
        text += s[i++];
      INFO("unexpected character in DOT: " << c);
      REQUIRE(!text.empty());
      out.push_back({text, false, false});
    }
  }
  return out;
}

/// A recursive-descent parser for digraphs: node, edge and attribute statements, clusters and
/// anonymous subgraphs.
class dot_parser {
 public:
  explicit dot_parser(const std::string& text) : t_(dot_tokens(text)) {}

  drawing parse() {
    REQUIRE(take_id() == "digraph");
    name_ = take_id();
    expect("{");
    statements();
    expect("}");
    REQUIRE(i_ == t_.size());
    return to_drawing(title_, nodes_, edges_, cluster_labels_);
  }
  [[nodiscard]] const std::vector<parsed_edge>& edges() const { return edges_; }
  [[nodiscard]] const std::map<std::string, parsed_node>& nodes() const { return nodes_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::map<std::string, std::vector<std::string>>& clusters() const {
    return cluster_by_id_;
  }

 private:
  struct scope {
    std::string id;  // "cluster_..." or empty (anonymous or plain subgraph)
    std::vector<std::string> label;
  };

  bool peek(std::string_view p) const { return i_ < t_.size() && t_[i_].punct && t_[i_].text == p; }
  bool peek_id(std::string_view w) const {
    return i_ < t_.size() && !t_[i_].punct && !t_[i_].quoted && t_[i_].text == w;
  }
  void expect(std::string_view p) {
    INFO("expected " << p << " at token " << i_);
    REQUIRE(peek(p));
    ++i_;
  }
  std::string take_id() {
    REQUIRE(i_ < t_.size());
    REQUIRE(!t_[i_].punct);
    return t_[i_++].text;
  }
  std::map<std::string, std::string> attributes() {
    std::map<std::string, std::string> a;
    if (!peek("[")) return a;
    ++i_;
    while (!peek("]")) {
      std::string key = take_id();
      expect("=");
      REQUIRE(a.count(key) == 0);
      a[key] = take_id();
      if (peek(",") || peek(";")) ++i_;
    }
    ++i_;
    return a;
  }
  std::string current_cluster() const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (!it->id.empty()) return it->label.empty() ? it->id : it->label.front();
    return {};
  }

  void statements() {
    while (!peek("}")) {
      statement();
      if (peek(";")) ++i_;
    }
  }

  void statement() {
    if (peek_id("subgraph") || peek("{")) {
      scope s;
      if (peek_id("subgraph")) {
        ++i_;
        if (!peek("{")) s.id = take_id();
        REQUIRE(s.id.rfind("cluster_", 0) == 0);
      }
      expect("{");
      scopes_.push_back(s);
      statements();
      expect("}");
      if (!scopes_.back().id.empty()) {
        cluster_labels_.push_back(scopes_.back().label);
        cluster_by_id_[scopes_.back().id] = scopes_.back().label;
      }
      scopes_.pop_back();
      return;
    }
    if (peek_id("graph") || peek_id("node") || peek_id("edge")) {
      const std::string kind = take_id();
      const auto a = attributes();
      if (kind == "graph" && scopes_.empty() && a.count("label") == 1)
        title_ = split(a.at("label"), "\n").front();
      return;
    }
    const std::string id = take_id();
    if (peek("=")) {  // an attribute of the enclosing (sub)graph
      ++i_;
      const std::string value = take_id();
      if (id == "label" && !scopes_.empty()) scopes_.back().label = split(value, "\n");
      return;
    }
    if (peek("->")) {
      ++i_;
      parsed_edge e;
      e.from = id;
      e.to = take_id();
      e.attrs = attributes();
      const auto style = e.attrs.count("style") != 0 ? e.attrs.at("style") : std::string{};
      e.kind = style.empty()       ? "sequence"
               : style == "dashed" ? "compensation"
               : style == "dotted" ? "data"
                                   : "unknown edge style " + style;
      if (e.attrs.count("label") != 0) e.label = e.attrs.at("label");
      edges_.push_back(std::move(e));
      return;
    }
    const auto a = attributes();
    if (a.empty()) {  // a reference (in a rank group): the node must exist
      REQUIRE(nodes_.count(id) == 1);
      return;
    }
    REQUIRE(nodes_.count(id) == 0);
    REQUIRE(a.count("label") == 1);
    parsed_node n;
    n.lines = split(a.at("label"), "\n");
    n.cluster = current_cluster();
    const auto get = [&a](const char* key) {
      return a.count(key) != 0 ? a.at(key) : std::string{};
    };
    // The kind is what a reader sees: a double-bordered hexagon, a diamond, a dashed box, a
    // filled box.
    if (get("shape") == "diamond")
      n.kind = "choice";
    else if (get("shape") == "hexagon" && get("peripheries") == "2")
      n.kind = "pivot";
    else if (get("style").find("dashed") != std::string::npos)
      n.kind = "undo";
    else if (get("style").find("filled") != std::string::npos)
      n.kind = "compensable";
    else
      n.kind = "step";
    nodes_[id] = std::move(n);
  }

  std::vector<dot_token> t_;
  std::size_t i_ = 0;
  std::string name_, title_;
  std::vector<scope> scopes_;
  std::map<std::string, parsed_node> nodes_;
  std::vector<parsed_edge> edges_;
  std::vector<std::vector<std::string>> cluster_labels_;
  std::map<std::string, std::vector<std::string>> cluster_by_id_;
};

drawing parse_dot(const std::string& text) { return dot_parser{text}.parse(); }

// ---- Mermaid --------------------------------------------------------------------------------

/// A Mermaid label's lines: split at <br/>, entity codes decoded. Raw characters Mermaid would
/// read as markup fail the test.
std::vector<std::string> mermaid_lines(const std::string& raw) {
  std::vector<std::string> out;
  for (const std::string& piece : split(raw, "<br/>")) {
    std::string line;
    for (std::size_t i = 0; i < piece.size(); ++i) {
      const char c = piece[i];
      INFO("a raw character Mermaid reads as markup in: " << raw);
      REQUIRE(std::string_view{"\"<>`"}.find(c) == std::string_view::npos);
      REQUIRE(static_cast<unsigned char>(c) >= 0x20);
      if (c != '#') {
        line += c;
        continue;
      }
      const std::size_t end = piece.find(';', i);
      REQUIRE(end != std::string::npos);
      const std::string code = piece.substr(i + 1, end - i - 1);
      static const std::map<std::string, char> named{
          {"quot", '"'}, {"lt", '<'}, {"gt", '>'}, {"amp", '&'}};
      if (named.count(code) != 0) {
        line += named.at(code);
      } else {
        INFO("an unknown entity code #" << code << ";");
        REQUIRE(std::regex_match(code, std::regex{"[0-9]+"}));
        line += static_cast<char>(std::stoi(code));
      }
      i = end;
    }
    out.push_back(line);
  }
  return out;
}

struct mermaid_parse {
  drawing d;
  std::vector<parsed_edge> edges;                  // in order: linkStyle counts them
  std::map<std::string, std::string> link_styles;  // index -> style
};

mermaid_parse parse_mermaid_full(const std::string& text) {
  std::istringstream in{text};
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() > 4);
  REQUIRE(lines[0] == "---");
  std::smatch m;
  REQUIRE(std::regex_match(lines[1], m, std::regex{"title: '(.*)'"}));
  std::string title = m[1];
  for (std::size_t at = 0; (at = title.find("''", at)) != std::string::npos; ++at)
    title.erase(at, 1);
  REQUIRE(lines[2] == "---");
  REQUIRE(lines[3] == "flowchart TB");

  static const std::regex node{R"re(\s*(\w+)(\[|\{\{|\(\[|\{)"([^"]*)"(\]|\}\}|\]\)|\}))re"};
  static const std::regex edge{R"re(\s*(\w+) (-->|-->\|\w+\||-\.->|-\.->\|data\|) (\w+))re"};
  static const std::regex subgraph{R"re(\s*subgraph (\w+) \["([^"]*)"\])re"};
  static const std::regex classes{R"re(\s*class ([\w,]+) (\w+))re"};
  static const std::regex link_style{R"re(\s*linkStyle ([\d,]+) (.+))re"};
  static const std::regex other{R"re(\s*(end|direction TB|direction LR|classDef \w+ .+))re"};

  std::map<std::string, parsed_node> nodes;
  std::vector<std::vector<std::string>> cluster_labels;
  std::vector<std::vector<std::string>> open;  // labels of the enclosing subgraphs
  mermaid_parse out;
  for (std::size_t k = 4; k < lines.size(); ++k) {
    const std::string& l = lines[k];
    INFO("Mermaid line: " << l);
    if (std::regex_match(l, m, node)) {
      const std::string open_bracket = m[2], close_bracket = m[4];
      const std::string pair = open_bracket + close_bracket;
      REQUIRE((pair == "[]" || pair == "{{}}" || pair == "([])" || pair == "{}"));
      REQUIRE(nodes.count(m[1]) == 0);
      parsed_node n;
      n.lines = mermaid_lines(m[3]);
      n.kind = pair == "{{}}"   ? "pivot"
               : pair == "([])" ? "undo"
               : pair == "{}"   ? "choice"
                                : "step";
      n.cluster = open.empty() ? std::string{} : open.back().front();
      nodes[m[1]] = std::move(n);
    } else if (std::regex_match(l, m, edge)) {
      const std::string arrow = m[2];
      const bool labelled = arrow.rfind("-->|", 0) == 0;
      out.edges.push_back({m[1],
                           m[3],
                           arrow == "-->" || labelled ? "sequence"
                           : arrow == "-.->"          ? "compensation"
                                                      : "data",
                           {},
                           labelled ? arrow.substr(4, arrow.size() - 5) : std::string{}});
    } else if (std::regex_match(l, m, subgraph)) {
      open.push_back(mermaid_lines(m[2]));
      cluster_labels.push_back(open.back());
    } else if (std::regex_match(l, m, classes)) {
      if (m[2] != "compensable") continue;  // pivot and undo are told by their shapes
      for (const std::string& id : split(m[1], ",")) {
        REQUIRE(nodes.count(id) == 1);
        REQUIRE(nodes.at(id).kind == "step");
        nodes.at(id).kind = "compensable";
      }
    } else if (std::regex_match(l, m, link_style)) {
      for (const std::string& index : split(m[1], ",")) out.link_styles[index] = m[2];
    } else {
      REQUIRE(std::regex_match(l, m, other));
      if (m[1] == "end") {
        REQUIRE(!open.empty());
        open.pop_back();
      }
    }
  }
  REQUIRE(open.empty());
  out.d = to_drawing(title, nodes, out.edges, cluster_labels);
  return out;
}

drawing parse_mermaid(const std::string& text) { return parse_mermaid_full(text).d; }

// ---- fixtures -------------------------------------------------------------------------------

struct fixture {
  tutti::circuit_breaker<> breaker{tutti::breaker_config{}};

  auto workflow() {
    return tutti::workflow<"order">(
        tutti::step<"validate">([](const int& x) { return x; }),
        tutti::step<"reserve">([](const int& x) { return x; }).compensate_with([](const int&) {}),
        tutti::workflow<"shipping">(
            tutti::step<"pack">([](const int& x) { return x; }),
            tutti::step<"label">([](const int& x) { return x + 1; })
                .compensate_with([](const int&) {}, tutti::retry{tutti::constant_backoff{1s},
                                                                 tutti::max_attempts{5}})) |
            tutti::timeout{2s},
        tutti::step<"charge">([](tutti::from<"reserve", int> r) { return *r; }) |
            tutti::retry{tutti::exponential_backoff{.first = 100ms, .cap = 1s},
                         tutti::max_attempts{3}} |
            tutti::guard(breaker) | tutti::timeout{200ms},
        tutti::pivot<"commit">(
            [](tutti::from<"charge", int> c, tutti::from<"shipping", int> s) { return *c + *s; }),
        tutti::step<"notify">([](const int&) {}) | tutti::retry{tutti::max_attempts{5}});
  }
};

drawing expected_order(bool settings) {
  const auto with = [settings](std::string name, std::string values) {
    return settings ? name + values : name;
  };
  drawing d;
  d.title = "workflow order";
  d.nodes = {
      "step: validate @",
      "compensable: reserve | compensable @",
      "undo: undo reserve @",
      "step: pack @workflow shipping",
      "compensable: label | compensable @workflow shipping",
      "undo: undo label | " + with("retry", ": 5 attempts, constant") + " @workflow shipping",
      "step: charge | " + with("retry", ": 3 attempts, exponential") + " | circuit_breaker | " +
          with("timeout", " 200 ms") + " @",
      "pivot: commit | pivot @",
      "step: notify | " + with("retry", ": 5 attempts, constant") + " @",
  };
  d.edges = {
      "validate -sequence-> reserve",
      "reserve -sequence-> pack",
      "pack -sequence-> label",
      "label -sequence-> charge",
      "charge -sequence-> commit",
      "commit -sequence-> notify",
      "reserve -compensation-> undo reserve",
      "label -compensation-> undo label",
      "undo label -compensation-> undo reserve",  // compensations run last step first
      "reserve -data-> charge",
      "charge -data-> commit",
      "label -data-> commit",  // the nested workflow's output is its last step's
  };
  d.clusters = {"workflow shipping | " + with("timeout", " 2 s")};
  return d;
}

drawing expected_payment(bool settings) {
  const std::string retry = settings ? "retry: 3 attempts, constant" : "retry";
  drawing d;
  d.title = "workflow payment";
  d.nodes = {
      "compensable: authorize | compensable | " + retry + " @",
      "undo: undo authorize @",
      "step: risk_check @",
      "step: pci_compliance @",
      "compensable: fx_quote | compensable @",
      "undo: undo fx_quote @",
      "pivot: transfer | pivot @",
      "step: send_receipt | " + retry + " @",
  };
  d.edges = {
      "authorize -sequence-> risk_check",
      "risk_check -sequence-> pci_compliance",
      "pci_compliance -sequence-> fx_quote",
      "fx_quote -sequence-> transfer",
      "transfer -sequence-> send_receipt",
      "authorize -compensation-> undo authorize",
      "fx_quote -compensation-> undo fx_quote",
      "undo fx_quote -compensation-> undo authorize",
      "authorize -data-> transfer",
      "fx_quote -data-> transfer",
      "transfer -data-> send_receipt",
  };
  return d;
}

void require_same(const drawing& actual, const drawing& expected) {
  CHECK(actual.title == expected.title);
  CHECK(actual.nodes == expected.nodes);
  CHECK(actual.edges == expected.edges);
  CHECK(actual.clusters == expected.clusters);
}

std::filesystem::path repository_root() {
  // tests/observe/diagram_test.cpp -> the repository
  return std::filesystem::path{__FILE__}.parent_path().parent_path().parent_path();
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  INFO("cannot read " << p.string());
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a workflow's DOT diagram has its steps, roles, policies, undo chain and data edges",
          "[observe][diagram]") {
  fixture f;
  const auto wf = f.workflow();
  const std::string dot = tutti::to_dot(wf);
  INFO(dot);
  require_same(parse_dot(dot), expected_order(true));
}

TEST_CASE("a workflow's Mermaid diagram shows the same nodes and edges as its DOT diagram",
          "[observe][diagram]") {
  fixture f;
  const auto wf = f.workflow();
  const std::string mermaid = tutti::to_mermaid(wf);
  INFO(mermaid);
  require_same(parse_mermaid(mermaid), expected_order(true));
}

TEST_CASE("a diagram drawn from the type alone names the policies without their settings",
          "[observe][diagram]") {
  using order = decltype(std::declval<fixture&>().workflow());
  require_same(parse_dot(tutti::to_dot<order>()), expected_order(false));
  require_same(parse_mermaid(tutti::to_mermaid<const order&>()), expected_order(false));
}

TEST_CASE("edges into and out of a nested workflow are clipped at its cluster in DOT",
          "[observe][diagram]") {
  fixture f;
  dot_parser p{tutti::to_dot(f.workflow())};
  p.parse();
  REQUIRE(p.name() == "order");
  REQUIRE(p.clusters().size() == 1);
  const std::string cluster = p.clusters().begin()->first;
  std::set<std::string> clipped;
  for (const parsed_edge& e : p.edges()) {
    const auto& from = p.nodes().at(e.from);
    const auto& to = p.nodes().at(e.to);
    if (e.attrs.count("ltail") != 0) {
      CHECK(e.attrs.at("ltail") == cluster);
      clipped.insert(from.lines.front() + " ltail");
    }
    if (e.attrs.count("lhead") != 0) {
      CHECK(e.attrs.at("lhead") == cluster);
      clipped.insert(to.lines.front() + " lhead");
    }
    // Only the sequence edges rank the steps; the undo chain and data edges may go back up.
    const bool ranks = e.attrs.count("constraint") == 0;
    CHECK(ranks == (e.kind == "sequence" || (e.kind == "compensation" && from.kind != "undo")));
  }
  CHECK(clipped == std::set<std::string>{"pack lhead", "label ltail"});
  const std::string dot = tutti::to_dot(f.workflow());
  CHECK(dot.find("compound=true") != std::string::npos);
}

TEST_CASE("Mermaid colours exactly the compensation and the data edges", "[observe][diagram]") {
  fixture f;
  const mermaid_parse p = parse_mermaid_full(tutti::to_mermaid(f.workflow()));
  for (std::size_t i = 0; i < p.edges.size(); ++i) {
    const std::string index = std::to_string(i);
    if (p.edges[i].kind == "sequence") CHECK(p.link_styles.count(index) == 0);
    if (p.edges[i].kind == "compensation") CHECK(p.link_styles.at(index) == "stroke:#b22222");
    if (p.edges[i].kind == "data") CHECK(p.link_styles.at(index) == "stroke:#6b6b6b");
  }
  CHECK(p.link_styles.size() == 6);
}

namespace {
/// A user policy whose name and detail hold everything a diagram must escape.
struct odd_policy {
  static constexpr std::string_view policy_name =
      "odd \"quoted\" <b>{x|y}</b> \\n \\ #35; & `tick` 'q'\nsecond";
  [[nodiscard]] constexpr tutti::policy_info info() const noexcept {
    return {policy_name, 1, {}, tutti::duration::max(), "d\\\"e<br/>"};
  }
  template <class Next, class Call>
  auto invoke(Next&& next, Call&) const {
    return next();
  }
};

auto odd_workflow() {
  return tutti::workflow<"odd \\ <name> #1 'x' {y|z}">(
      tutti::step<"a<b>{c|d}\\e #1 & 'q' `x` [z] (p) end">([] { return 1; }) | odd_policy{},
      tutti::workflow<"in{ner}|<x> #2">(tutti::step<"end">([] { return 2; })));
}
}  // namespace

TEST_CASE("names and policy texts with quotes, backslashes, markup and newlines are escaped",
          "[observe][diagram]") {
  // A step or workflow name cannot hold '/', '"' or a newline; a policy's name and detail can.
  const std::string policy_line =
      "odd \"quoted\" <b>{x|y}</b> \\n \\ #35; & `tick` 'q' second: d\\\"e<br/>";
  drawing expected;
  expected.title = "workflow odd \\ <name> #1 'x' {y|z}";
  expected.nodes = {"step: a<b>{c|d}\\e #1 & 'q' `x` [z] (p) end | " + policy_line + " @",
                    "step: end @workflow in{ner}|<x> #2"};
  expected.edges = {"a<b>{c|d}\\e #1 & 'q' `x` [z] (p) end -sequence-> end"};
  expected.clusters = {"workflow in{ner}|<x> #2"};

  const auto wf = odd_workflow();
  const std::string dot = tutti::to_dot(wf);
  const std::string mermaid = tutti::to_mermaid(wf);
  INFO(dot << '\n' << mermaid);
  require_same(parse_dot(dot), expected);
  require_same(parse_mermaid(mermaid), expected);
  dot_parser named{dot};
  named.parse();
  CHECK(named.name() == "odd \\ <name> #1 'x' {y|z}");
}

namespace {
// Steps written as types: the workflow is a type, drawn with no object at all.
struct fetch {
  static constexpr std::string_view name = "fetch";
  tutti::result<int> operator()() const { return 1; }
};
struct store {
  static constexpr std::string_view name = "store";
  tutti::result<int> operator()(tutti::from<"fetch", int> f) const { return *f; }
  void compensate(const int&) const {}
};
struct publish {
  static constexpr std::string_view name = "publish";
  static constexpr bool pivot = true;
  tutti::result<void> operator()(tutti::from<"store", int>) const {
    return tutti::outcome::success();
  }
};
using typed_workflow = tutti::workflow_of<"typed", fetch, store, publish>;
}  // namespace

TEST_CASE("a workflow of step types is drawn from its type with member compensations and reads",
          "[observe][diagram]") {
  drawing expected;
  expected.title = "workflow typed";
  expected.nodes = {"step: fetch @", "compensable: store | compensable @", "undo: undo store @",
                    "pivot: publish | pivot @"};
  expected.edges = {"fetch -sequence-> store", "store -sequence-> publish",
                    "store -compensation-> undo store", "fetch -data-> store",
                    "store -data-> publish"};
  require_same(parse_dot(tutti::to_dot<typed_workflow>()), expected);
  require_same(parse_mermaid(tutti::to_mermaid<typed_workflow>()), expected);
  // The object form of a workflow without settings draws the same.
  CHECK(tutti::to_dot(typed_workflow{}) == tutti::to_dot<typed_workflow>());
}

TEST_CASE("policy settings are shown in the units they divide into", "[observe][diagram]") {
  const auto wf = tutti::workflow<"w">(
      tutti::step<"a">([] { return 1; }) | tutti::timeout{1500us} | tutti::deadline{2min},
      tutti::step<"b">([] { return 1; }) |
          tutti::retry{tutti::constant_backoff{10ms}, tutti::max_attempts{4}}.within(3s),
      tutti::step<"c">([] { return 1; }) | tutti::retry_forever{} | tutti::fallback(7));
  drawing expected;
  expected.title = "workflow w";
  expected.nodes = {"step: a | timeout 1500 us | deadline 2 min @",
                    "step: b | retry: 4 attempts, constant, within 3 s @",
                    "step: c | retry_forever: constant | fallback: value @"};
  expected.edges = {"a -sequence-> b", "b -sequence-> c"};
  require_same(parse_dot(tutti::to_dot(wf)), expected);
}

TEST_CASE("the payment gateway's diagram shows its saga", "[observe][diagram][examples]") {
  pay::services s;
  const auto wf = pay::make_payment_workflow(s);
  require_same(parse_dot(tutti::to_dot(wf)), expected_payment(true));
  require_same(parse_mermaid(tutti::to_mermaid(wf)), expected_payment(true));
  require_same(parse_dot(tutti::to_dot<pay::payment_workflow>()), expected_payment(false));
  require_same(parse_mermaid(tutti::to_mermaid<pay::payment_workflow>()), expected_payment(false));
}

TEST_CASE("the committed payment gateway diagrams are those the code draws now",
          "[observe][diagram][examples]") {
  pay::services s;
  const auto wf = pay::make_payment_workflow(s);
  const auto images = repository_root() / "docs" / "images";
  INFO("out of date: run scripts/render-diagrams and commit docs/images and the docs page");
  CHECK(read_file(images / "payment_gateway.dot") == tutti::to_dot(wf));
  const std::string mermaid = tutti::to_mermaid(wf);
  CHECK(read_file(images / "payment_gateway.mmd") == mermaid);
  // The docs page shows the same Mermaid source between its markers.
  const std::string page = read_file(repository_root() / "docs" / "observability" / "diagrams.md");
  const std::string begin = "<!-- begin: payment_gateway.mmd -->\n```mermaid\n";
  const std::string end = "```\n<!-- end: payment_gateway.mmd -->";
  const auto b = page.find(begin);
  const auto e = page.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  CHECK(page.substr(b + begin.size(), e - b - begin.size()) == mermaid);
  CHECK(std::filesystem::exists(images / "payment_gateway.svg"));
}

// ---- parallel groups, conditionals and choices ----------------------------------------------

namespace {
/// A group between two steps: compensable and optional branches, policies on a branch and on
/// the group, reads of a step before the group, and a later step reading the group's output.
auto gather_workflow() {
  return tutti::workflow<"page">(
      tutti::step<"load">([](const int& x) { return x; }).compensate_with([](const int&) {}),
      tutti::parallel<"gather">(tutti::step<"price">([](tutti::from<"load", int> l) {
                                  return *l;
                                }).compensate_with([](const int&) {}),
                                tutti::optional_branch(tutti::step<"stock">([] { return 2; }) |
                                                       tutti::retry{tutti::max_attempts{3}}),
                                tutti::step<"tax">([](tutti::from<"load", int> l) {
                                  return *l;
                                }).compensate_with([](const int&) {})) |
          tutti::timeout{1s},
      tutti::step<"render">([](tutti::from<"gather", std::tuple<int, std::optional<int>, int>> g) {
        return std::get<0>(*g);
      }).compensate_with([](const int&) {}));
}

drawing expected_gather(bool settings) {
  drawing d;
  d.title = "workflow page";
  d.nodes = {
      "compensable: load | compensable @",
      "undo: undo load @",
      "compensable: price | compensable @gather",
      "undo: undo price @gather",
      "step: stock | optional | " +
          std::string{settings ? "retry: 3 attempts, constant" : "retry"} + " @gather",
      "compensable: tax | compensable @gather",
      "undo: undo tax @gather",
      "compensable: render | compensable @",
      "undo: undo render @",
  };
  d.edges = {
      // fan-out from the step before the group, fan-in to the step after it
      "load -sequence-> price",
      "load -sequence-> stock",
      "load -sequence-> tax",
      "price -sequence-> render",
      "stock -sequence-> render",
      "tax -sequence-> render",
      "load -compensation-> undo load",
      "price -compensation-> undo price",
      "tax -compensation-> undo tax",
      "render -compensation-> undo render",
      // the undo chain: the group's branches in reverse branch order, at the group's position
      "undo render -compensation-> undo tax",
      "undo tax -compensation-> undo price",
      "undo price -compensation-> undo load",
      // branches read a step before the group; the step after reads every branch's output
      "load -data-> price",
      "load -data-> tax",
      "price -data-> render",
      "stock -data-> render",
      "tax -data-> render",
  };
  d.clusters = {"gather | parallel | " + std::string{settings ? "timeout 1 s" : "timeout"}};
  return d;
}

/// Edges (by first label lines) between any two of `names`.
std::set<std::string> edges_among(const drawing& d, const std::set<std::string>& names) {
  std::set<std::string> out;
  for (const std::string& e : d.edges) {
    const auto arrow = e.find(" -");
    const auto head = e.find("-> ");
    if (names.count(e.substr(0, arrow)) != 0 && names.count(e.substr(head + 3)) != 0) out.insert(e);
  }
  return out;
}
}  // namespace

TEST_CASE("a parallel group is a cluster of branches side by side, with fan-out and fan-in",
          "[observe][diagram][parallel]") {
  const auto wf = gather_workflow();
  const std::string dot = tutti::to_dot(wf);
  const std::string mermaid = tutti::to_mermaid(wf);
  INFO(dot << '\n' << mermaid);
  const drawing from_dot = parse_dot(dot);
  require_same(from_dot, expected_gather(true));
  require_same(parse_mermaid(mermaid), expected_gather(true));
  // No edge of any kind between two branches (the undo chain links their undo nodes).
  CHECK(edges_among(from_dot, {"price", "stock", "tax"}).empty());
  // From the type: the same, the policies by name only.
  require_same(parse_dot(tutti::to_dot<decltype(wf)>()), expected_gather(false));
  require_same(parse_mermaid(tutti::to_mermaid<decltype(wf)>()), expected_gather(false));
}

TEST_CASE("a group's DOT cluster has the group's name and kind, fan edges are not clipped",
          "[observe][diagram][parallel]") {
  dot_parser p{tutti::to_dot(gather_workflow())};
  p.parse();
  REQUIRE(p.clusters().size() == 1);
  CHECK(p.clusters().begin()->first == "cluster_s2");
  CHECK(p.clusters().begin()->second ==
        std::vector<std::string>{"gather", "parallel", "timeout 1 s"});
  for (const parsed_edge& e : p.edges()) {
    CHECK(e.attrs.count("lhead") == 0);  // each fan edge ends at its branch
    CHECK(e.attrs.count("ltail") == 0);
  }
  // Mermaid: the group is a subgraph whose branches are laid out left to right.
  const std::string mermaid = tutti::to_mermaid(gather_workflow());
  CHECK(
      mermaid.find("  subgraph s2 [\"gather<br/>parallel<br/>timeout 1 s\"]\n    direction LR\n") !=
      std::string::npos);
}

TEST_CASE("quorum, first_of, hedge and hedged groups are labelled with their kind",
          "[observe][diagram][parallel]") {
  tutti::inline_executor ex;
  const auto wf = tutti::workflow<"reads">(
      tutti::quorum<"q", 2>(ex, tutti::step<"a">([] { return 1; }),
                            tutti::step<"b">([] { return 2; }), tutti::step<"c">([] { return 3; })),
      tutti::first_of<"f">(ex, tutti::step<"x">([] { return 1; }),
                           tutti::step<"y">([] { return 2; })),
      tutti::hedge<"h">(ex, 50ms, tutti::step<"primary">([] { return 1; }),
                        tutti::step<"backup">([] { return 2; })),
      tutti::step<"read">([] { return 1; }) | tutti::retry{tutti::max_attempts{2}} |
          tutti::hedged(ex, 10ms));
  const std::string dot = tutti::to_dot(wf);
  INFO(dot);
  const drawing d = parse_dot(dot);
  CHECK(d.clusters == std::set<std::string>{"q | quorum 2 of 3", "f | first of",
                                            "h | hedge after 50 ms", "read | hedge after 10 ms"});
  // The hedged step's copies are the branches "1" and "2", with the step's own policies.
  CHECK(d.nodes.count("step: 1 | retry: 2 attempts, constant @read") == 1);
  CHECK(d.nodes.count("step: 2 | retry: 2 attempts, constant @read") == 1);
  // Fan-in from each of the quorum's branches to each of the next group's branches.
  for (const char* from : {"a", "b", "c"})
    for (const char* to : {"x", "y"})
      CHECK(d.edges.count(std::string{from} + " -sequence-> " + to) == 1);
  CHECK(edges_among(d, {"a", "b", "c"}).empty());
  CHECK(edges_among(d, {"1", "2"}).empty());
  require_same(parse_mermaid(tutti::to_mermaid(wf)), d);
  // A delay is a value: from the type alone a hedge reads "first of".
  const drawing typed = parse_dot(tutti::to_dot<decltype(wf)>());
  CHECK(typed.clusters == std::set<std::string>{"q | quorum 2 of 3", "f | first of", "h | first of",
                                                "read | first of"});
}

TEST_CASE("a nested workflow as a branch: fan edges are clipped at its cluster",
          "[observe][diagram][parallel]") {
  const auto wf = tutti::workflow<"w">(
      tutti::step<"start">([] { return 1; }),
      tutti::parallel<"g">(tutti::workflow<"sub">(tutti::step<"s1">([] { return 1; }),
                                                  tutti::step<"s2">([] { return 2; })),
                           tutti::optional_branch(tutti::step<"solo">([] { return 3; }))),
      tutti::step<"end">([] { return 4; }));
  dot_parser p{tutti::to_dot(wf)};
  const drawing d = p.parse();
  CHECK(d.clusters == std::set<std::string>{"g | parallel", "workflow sub"});
  CHECK(d.nodes.count("step: s1 @workflow sub") == 1);
  CHECK(d.nodes.count("step: solo | optional @g") == 1);
  CHECK(d.edges == std::set<std::string>{"start -sequence-> s1", "start -sequence-> solo",
                                         "s1 -sequence-> s2", "s2 -sequence-> end",
                                         "solo -sequence-> end"});
  std::set<std::string> clipped;
  for (const parsed_edge& e : p.edges()) {
    if (e.attrs.count("lhead") != 0) clipped.insert(e.to + " lhead " + e.attrs.at("lhead"));
    if (e.attrs.count("ltail") != 0) clipped.insert(e.from + " ltail " + e.attrs.at("ltail"));
  }
  CHECK(clipped == std::set<std::string>{"s2_1_1 lhead cluster_s2_1", "s2_1_2 ltail cluster_s2_1"});
  // An optional nested workflow says so in its cluster label.
  const auto opt = tutti::workflow<"w">(tutti::parallel<"g">(
      tutti::optional_branch(tutti::workflow<"sub">(tutti::step<"s1">([] { return 1; })))));
  CHECK(parse_mermaid(tutti::to_mermaid(opt)).clusters ==
        std::set<std::string>{"g | parallel", "workflow sub | optional"});
}

namespace {
enum class method { courier, post, pickup };

auto ship_workflow() {
  return tutti::workflow<"ship">(
      tutti::step<"order">([](const int& x) { return x; }).compensate_with([](const int&) {}),
      tutti::when([](tutti::from<"order", int> o) { return *o > 100; },
                  tutti::step<"insure">([] { return 1; }).compensate_with([](const int&) {}) |
                      tutti::retry{tutti::max_attempts{2}}),
      tutti::choose<"route">(
          [](tutti::from<"order", int> o) { return static_cast<method>(*o % 3); },
          tutti::step<"courier">([](tutti::from<"order", int> o) {
            return *o;
          }).compensate_with([](const int&) {}),
          tutti::step<"post">([] { return 2; }),
          tutti::step<"pickup">([] { return 3; }).compensate_with([](const int&) {})),
      tutti::step<"notify">([](tutti::from<"route", int> r) {
        return *r;
      }).compensate_with([](const int&) {}));
}

drawing expected_ship(bool settings) {
  drawing d;
  d.title = "workflow ship";
  d.nodes = {
      "compensable: order | compensable @",
      "undo: undo order @",
      "compensable: insure | when: conditional | compensable | " +
          std::string{settings ? "retry: 2 attempts, constant" : "retry"} + " @",
      "undo: undo insure @",
      "choice: route | choose @",
      "compensable: courier | compensable @",
      "undo: undo courier @",
      "step: post @",
      "compensable: pickup | compensable @",
      "undo: undo pickup @",
      "compensable: notify | compensable @",
      "undo: undo notify @",
  };
  d.edges = {
      "order -sequence-> insure",
      "insure -sequence-> route",
      // one edge per case, labelled with its index; the cases join at the next step
      "route -sequence[0]-> courier",
      "route -sequence[1]-> post",
      "route -sequence[2]-> pickup",
      "courier -sequence-> notify",
      "post -sequence-> notify",
      "pickup -sequence-> notify",
      "order -compensation-> undo order",
      "insure -compensation-> undo insure",
      "courier -compensation-> undo courier",
      "pickup -compensation-> undo pickup",
      "notify -compensation-> undo notify",
      // the cases are alternatives: the chain forks through them
      "undo notify -compensation-> undo courier",
      "undo notify -compensation-> undo pickup",
      "undo courier -compensation-> undo insure",
      "undo pickup -compensation-> undo insure",
      "undo insure -compensation-> undo order",
      // the condition's and the selector's reads, a case's read, the reads of the choice
      "order -data-> insure",
      "order -data-> route",
      "order -data-> courier",
      "courier -data-> notify",
      "post -data-> notify",
      "pickup -data-> notify",
  };
  return d;
}
}  // namespace

TEST_CASE("a choice is a decision node with an edge per case, a when step is marked",
          "[observe][diagram][branch]") {
  const auto wf = ship_workflow();
  const std::string dot = tutti::to_dot(wf);
  const std::string mermaid = tutti::to_mermaid(wf);
  INFO(dot << '\n' << mermaid);
  const drawing d = parse_dot(dot);
  require_same(d, expected_ship(true));
  require_same(parse_mermaid(mermaid), expected_ship(true));
  CHECK(edges_among(d, {"courier", "post", "pickup"}).empty());
  require_same(parse_dot(tutti::to_dot<decltype(wf)>()), expected_ship(false));
  require_same(parse_mermaid(tutti::to_mermaid<decltype(wf)>()), expected_ship(false));
  CHECK(mermaid.find("  s3{\"route<br/>choose\"}\n") != std::string::npos);
  CHECK(mermaid.find("  s3 -->|2| s3_3\n") != std::string::npos);
}

TEST_CASE("if_else, a conditional nested workflow and a choice inside a group",
          "[observe][diagram][branch]") {
  const auto wf = tutti::workflow<"w">(
      tutti::step<"in">([](const int& x) { return x; }),
      tutti::if_else<"big">([](const int& x) { return x > 10; },
                            tutti::step<"then">([] { return 1; }),
                            tutti::step<"else">([] { return 2; })),
      tutti::when([](tutti::from<"in", int> i) { return *i > 0; },
                  tutti::workflow<"extra">(tutti::step<"e1">([] { return 1; }),
                                           tutti::step<"e2">([] { return 2; }))),
      tutti::parallel<"g">(
          tutti::choose<"pick">([] { return 0; }, tutti::step<"p0">([] { return 1; }),
                                tutti::step<"p1">([] { return 1; })),
          tutti::step<"other">([] { return 1; })));
  dot_parser p{tutti::to_dot(wf)};
  const drawing d = p.parse();
  INFO(tutti::to_dot(wf));
  CHECK(d.nodes.count("choice: big | if_else @") == 1);
  CHECK(d.nodes.count("choice: pick | choose @g") == 1);
  CHECK(d.clusters == std::set<std::string>{"workflow extra | when: conditional", "g | parallel"});
  CHECK(d.edges == std::set<std::string>{
                       "in -sequence-> big", "big -sequence[0]-> then", "big -sequence[1]-> else",
                       "then -sequence-> e1", "else -sequence-> e1", "e1 -sequence-> e2",
                       // into the group: to the choice's decision node and the other branch
                       "e2 -sequence-> pick", "e2 -sequence-> other", "pick -sequence[0]-> p0",
                       "pick -sequence[1]-> p1",
                       // the condition's read goes into the workflow's first step
                       "in -data-> e1"});
  for (const parsed_edge& e : p.edges())
    if (e.kind == "data") CHECK(e.attrs.at("lhead") == "cluster_s3");
  require_same(parse_mermaid(tutti::to_mermaid(wf)), d);
}

TEST_CASE("workflows without groups or choices draw exactly as before",
          "[observe][diagram][parallel]") {
  // The committed payment gateway files pin the exact bytes; this pins the order fixture's
  // Mermaid edge order (linkStyle indices) too.
  fixture f;
  const mermaid_parse p = parse_mermaid_full(tutti::to_mermaid(f.workflow()));
  CHECK(p.link_styles.at("6") == "stroke:#b22222");
  CHECK(p.link_styles.at("9") == "stroke:#6b6b6b");
  CHECK(tutti::to_dot(f.workflow()).find("label=\"0\"") == std::string::npos);
}

TEST_CASE("a workflow undone in parallel has no chain between its undo nodes",
          "[observe][diagram][parallel_compensation]") {
  tutti::inline_executor here;
  const auto undo = [](const int&) {};
  // a, b and c are undone together; before them (in undo order) comes d, after them e.
  const auto trip = tutti::workflow<"trip">(tutti::step<"a">([] { return 1; }).compensate_with(undo),
                                            tutti::step<"b">([] { return 2; }).compensate_with(undo),
                                            tutti::step<"c">([] { return 3; }).compensate_with(undo))
                        .compensate_in_parallel(here);
  const auto outer = tutti::workflow<"outer">(
      tutti::step<"e">([] { return 0; }).compensate_with(undo), trip,
      tutti::step<"d">([] { return 4; }).compensate_with(undo));
  const std::set<std::string> together{
      // each step to its undo node, as in any saga
      "a -compensation-> undo a", "b -compensation-> undo b", "c -compensation-> undo c",
      "d -compensation-> undo d", "e -compensation-> undo e",
      // d's undo leads to every undo of the level, each of them to e's: none to another
      "undo d -compensation-> undo a", "undo d -compensation-> undo b",
      "undo d -compensation-> undo c", "undo a -compensation-> undo e",
      "undo b -compensation-> undo e", "undo c -compensation-> undo e"};
  const auto compensation_edges = [](const drawing& d) {
    std::set<std::string> out;
    for (const std::string& e : d.edges)
      if (e.find("-compensation->") != std::string::npos) out.insert(e);
    return out;
  };
  const drawing d = parse_dot(tutti::to_dot(outer));
  INFO(tutti::to_dot(outer));
  CHECK(compensation_edges(d) == together);
  CHECK(d.clusters.count("workflow trip | undone in parallel") == 1);
  require_same(parse_mermaid(tutti::to_mermaid(outer)), d);

  // The same workflow without compensate_in_parallel keeps its chain, last step first.
  const auto chained = tutti::workflow<"outer">(
      tutti::step<"e">([] { return 0; }).compensate_with(undo),
      tutti::workflow<"trip">(tutti::step<"a">([] { return 1; }).compensate_with(undo),
                              tutti::step<"b">([] { return 2; }).compensate_with(undo),
                              tutti::step<"c">([] { return 3; }).compensate_with(undo)),
      tutti::step<"d">([] { return 4; }).compensate_with(undo));
  const drawing c = parse_dot(tutti::to_dot(chained));
  CHECK(c.clusters.count("workflow trip") == 1);
  CHECK(compensation_edges(c).count("undo c -compensation-> undo b") == 1);
  CHECK(compensation_edges(c).count("undo d -compensation-> undo a") == 0);

  // Drawn at the top, from the object and from the type alone: no chain either, and the title
  // says it.
  const drawing top = parse_dot(tutti::to_dot(trip));
  CHECK(top.title == "workflow trip");
  CHECK(tutti::to_dot(trip).find("undone in parallel") != std::string::npos);
  for (const std::string& e : compensation_edges(top)) {
    INFO(e);
    CHECK(e.rfind("undo ", 0) != 0);  // only step -> its undo node
  }
  CHECK(compensation_edges(top).size() == 3);
  CHECK(compensation_edges(parse_dot(tutti::to_dot<decltype(trip)>())) == compensation_edges(top));
  CHECK(compensation_edges(parse_mermaid(tutti::to_mermaid(trip))) == compensation_edges(top));
}
