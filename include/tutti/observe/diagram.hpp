// tutti — diagrams of workflows: Mermaid and Graphviz DOT, read off a workflow's type.
#ifndef TUTTI_OBSERVE_DIAGRAM_HPP
#define TUTTI_OBSERVE_DIAGRAM_HPP

#include <cstddef>      // std::size_t
#include <string>       // the diagram text
#include <string_view>  // names
#include <tuple>        // std::get over a workflow's steps
#include <type_traits>  // std::remove_cvref_t
#include <utility>      // std::index_sequence
#include <vector>       // drawn steps and edges

#include "../branch.hpp"
#include "../clock.hpp"
#include "../config.hpp"
#include "../context.hpp"
#include "../detail/signature.hpp"
#include "../parallel.hpp"
#include "../policy.hpp"
#include "../step.hpp"
#include "../workflow.hpp"

TUTTI_BEGIN_NAMESPACE

namespace detail {

// ---- the model: what is drawn, shared by both output formats ---------------------------------

/// One drawn step: a step with its policies and compensation, a nested workflow, a parallel
/// group (its branches) or a choice (its cases).
struct diagram_step {
  std::string id;  // "s2", "s3_1": made from positions, so never in need of escaping
  std::string_view name;
  bool pivot = false;
  bool compensable = false;                // its own compensation (a step, not a workflow)
  bool nested = false;                     // a workflow: `steps` are its steps
  bool group = false;                      // a parallel group: `steps` are its branches
  bool choice = false;                     // a choice: `steps` are its cases
  bool optional = false;                   // an optional branch of a group
  bool conditional = false;                // tutti::when: runs only when its condition holds
  bool parallel_undo = false;              // a workflow whose steps are undone together
  std::string kind;                        // a group's kind ("quorum 2 of 3"), a choice's
  std::vector<std::string> policies;       // inner to outer
  std::vector<std::string> undo_policies;  // around the compensation
  std::vector<std::string_view> reads;     // earlier steps named by from<"name", T> parameters
  std::vector<diagram_step> steps;
};

enum class diagram_edge_kind : unsigned char { sequence, compensation, data };

struct diagram_edge {
  std::string from, to;
  diagram_edge_kind kind;
  std::string from_cluster, to_cluster;  // DOT clips an edge at a nested workflow's border
  bool ranks = true;                     // false: the edge does not shape the layout
  std::string label = {};                // a choice's edge to a case: the case's index
};

template <class T>
inline constexpr bool is_workflow_v = false;
template <fixed_string Name, class... N>
inline constexpr bool is_workflow_v<basic_workflow<Name, N...>> = true;
template <class W, class E>
inline constexpr bool is_workflow_v<parallel_compensated<W, E>> = is_workflow_v<W>;

template <class U>
struct undo_policy_of;
template <class U, class P>
struct undo_policy_of<undo_with_policy<U, P>> {
  using type = P;
};

/// "200 ms", "2 s", "1500 us": the largest unit that divides the duration.
inline std::string diagram_duration(duration d) {
  const auto ns = d.count();
  struct unit {
    duration::rep per;
    const char* name;
  };
  constexpr unit units[] = {{3'600'000'000'000, "h"},
                            {60'000'000'000, "min"},
                            {1'000'000'000, "s"},
                            {1'000'000, "ms"},
                            {1'000, "us"}};
  for (const unit& u : units)
    if (ns != 0 && ns % u.per == 0) return std::to_string(ns / u.per) + ' ' + u.name;
  return std::to_string(ns) + " ns";
}

/// "retry: 3 attempts, constant", "timeout 200 ms", "fallback: value", "circuit_breaker";
/// the name alone without settings (a diagram drawn from a type).
inline std::string diagram_policy_text(const policy_info& p, bool settings) {
  std::string text{p.name};
  if (!settings) return text;
  const bool repeats = p.max_attempts != 1;
  if (!repeats && p.limit != duration::max()) text += ' ' + diagram_duration(p.limit);
  std::vector<std::string> parts;
  if (p.max_attempts > 1) parts.push_back(std::to_string(p.max_attempts) + " attempts");
  if (!p.detail.empty()) parts.emplace_back(p.detail);
  if (repeats && p.limit != duration::max()) parts.push_back("within " + diagram_duration(p.limit));
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? ": " : ", ") + parts[i];
  return text;
}

template <class P>
std::string diagram_policy(const P* p) {
  return p != nullptr ? diagram_policy_text(info_of(*p), true)
                      : diagram_policy_text(policy_info{P::policy_name}, false);
}

template <class A>
void diagram_read(std::vector<std::string_view>& out) {
  using D = std::remove_cvref_t<A>;
  if constexpr (is_from_v<D>) out.push_back(D::name.view());
}
template <class... A>
void diagram_reads(std::vector<std::string_view>& out, type_list<A...>) {
  (void)out;
  (diagram_read<A>(out), ...);
}

// Filling the model walks the types; with an object (non-null pointers) it also reads the
// policies' settings. One overload per kind of node; declared first, as they call each other.
template <class N>
void diagram_fill(diagram_step& s, const N* n);
template <class I, class P>
void diagram_fill(diagram_step& s, const with_policy<I, P>* n);
template <fixed_string Name, class F, class U, step_role R>
void diagram_fill(diagram_step& s, const step_node<Name, F, U, R>* n);
template <fixed_string Name, class... N>
void diagram_fill(diagram_step& s, const basic_workflow<Name, N...>* w);
template <fixed_string Name, class B, bool Optional>
void diagram_fill(diagram_step& s, const branch_node<Name, B, Optional>* n);
template <fixed_string Name, gather_mode Mode, std::size_t K, class E, class... B>
void diagram_fill(diagram_step& s, const parallel_group<Name, Mode, K, E, B...>* g);
template <class P, class I>
void diagram_fill(diagram_step& s, const when_node<P, I>* n);
template <fixed_string Name, class Sel, bool Bool, class... C>
void diagram_fill(diagram_step& s, const choice_node<Name, Sel, Bool, C...>* c);

// Any other node: its name and saga role are all that is known of it.
template <class N>
void diagram_fill(diagram_step& s, const N*) {
  s.pivot = N::pivot;
  s.compensable = N::compensable;
}

template <class I, class P>
void diagram_fill(diagram_step& s, const with_policy<I, P>* n) {
  diagram_fill(s, n != nullptr ? &n->inner() : static_cast<const I*>(nullptr));
  s.policies.push_back(
      diagram_policy(n != nullptr ? &n->policy() : static_cast<const P*>(nullptr)));
}

template <fixed_string Name, class F, class U, step_role R>
void diagram_fill(diagram_step& s, const step_node<Name, F, U, R>* n) {
  using node_t = step_node<Name, F, U, R>;
  s.pivot = node_t::pivot;
  s.compensable = node_t::compensable;
  if constexpr (undo_parts<U>::has_policy) {
    using P = typename undo_policy_of<U>::type;
    s.undo_policies.push_back(
        diagram_policy(n != nullptr ? &n->compensation().policy : static_cast<const P*>(nullptr)));
  }
  // Data edges need the parameter list: generic lambdas and overload sets have none to read.
  if constexpr (signature_of<F>::known) diagram_reads(s.reads, typename signature_of<F>::args{});
}

template <class N>
void diagram_fill_child(diagram_step& s, const std::string& parent, std::size_t i, const N* n) {
  s.id = (parent.empty() ? std::string{"s"} : parent + '_') + std::to_string(i + 1);
  s.name = N::name.view();
  diagram_fill(s, n);
}

template <fixed_string Name, class... N, std::size_t... I>
void diagram_fill_steps(diagram_step& s, const basic_workflow<Name, N...>* w,
                        std::index_sequence<I...>) {
  (diagram_fill_child(s.steps[I], s.id, I,
                      w != nullptr ? &std::get<I>(w->steps()) : static_cast<const N*>(nullptr)),
   ...);
}

template <fixed_string Name, class... N>
void diagram_fill(diagram_step& s, const basic_workflow<Name, N...>* w) {
  s.nested = true;
  s.steps.resize(sizeof...(N));
  diagram_fill_steps(s, w, std::index_sequence_for<N...>{});
}

// wf.compensate_in_parallel(exec): the workflow's steps, undone together.
template <class W, class E>
void diagram_fill(diagram_step& s, const parallel_compensated<W, E>* w) {
  diagram_fill(s, static_cast<const W*>(w));
  s.parallel_undo = true;
}

/// The reads of a condition or selector (from<> parameters), when its parameters can be read.
template <class F>
void diagram_callable_reads(std::vector<std::string_view>& out) {
  if constexpr (signature_of<F>::known) diagram_reads(out, typename signature_of<F>::args{});
}

// A branch renamed (a hedged copy) or optional: drawn as its inner node, under its own name.
template <fixed_string Name, class B, bool Optional>
void diagram_fill(diagram_step& s, const branch_node<Name, B, Optional>* n) {
  diagram_fill(s, n != nullptr ? &n->inner() : static_cast<const B*>(nullptr));
  s.optional = s.optional || Optional;
}

/// Children (branches, cases) of a group or choice, held as std::tuple<std::tuple<B>...>.
template <class Tuple, class... B, std::size_t... I>
void diagram_fill_children(diagram_step& s, const Tuple* children, std::index_sequence<I...>) {
  s.steps.resize(sizeof...(B));
  (diagram_fill_child(
       s.steps[I], s.id, I,
       children != nullptr ? &std::get<0>(std::get<I>(*children)) : static_cast<const B*>(nullptr)),
   ...);
}

template <fixed_string Name, gather_mode Mode, std::size_t K, class E, class... B>
void diagram_fill(diagram_step& s, const parallel_group<Name, Mode, K, E, B...>* g) {
  s.group = true;
  if constexpr (Mode == gather_mode::all) {
    s.kind = "parallel";
  } else if constexpr (Mode == gather_mode::quorum) {
    s.kind = "quorum " + std::to_string(K) + " of " + std::to_string(sizeof...(B));
  } else {
    // The delay is a value: a diagram drawn from the type cannot tell a hedge from first_of.
    if (g != nullptr && g->delay() > duration::zero())
      s.kind = "hedge after " + diagram_duration(g->delay());
    else
      s.kind = "first of";
  }
  diagram_fill_children<std::tuple<std::tuple<B>...>, B...>(
      s, g != nullptr ? &g->branches() : nullptr, std::index_sequence_for<B...>{});
}

template <class P, class I>
void diagram_fill(diagram_step& s, const when_node<P, I>* n) {
  diagram_fill(s, n != nullptr ? &n->inner() : static_cast<const I*>(nullptr));
  s.conditional = true;
  diagram_callable_reads<P>(s.reads);
}

template <fixed_string Name, class Sel, bool Bool, class... C>
void diagram_fill(diagram_step& s, const choice_node<Name, Sel, Bool, C...>* c) {
  s.choice = true;
  s.kind = Bool ? "if_else" : "choose";
  diagram_callable_reads<Sel>(s.reads);  // the selector's: drawn into the decision node
  diagram_fill_children<std::tuple<std::tuple<C>...>, C...>(s, c != nullptr ? &c->cases() : nullptr,
                                                            std::index_sequence_for<C...>{});
}

/// The whole workflow as a (nested) step whose id is empty: its steps are s1, s2, ...
template <class W>
diagram_step diagram_model(const W* w) {
  diagram_step top;
  top.name = W::name.view();
  diagram_fill(top, w);
  return top;
}

// ---- edges -----------------------------------------------------------------------------------

/// An end of an edge: a drawn node, and the cluster DOT clips the edge at (a nested workflow's).
struct diagram_end {
  std::string id;
  std::string cluster;
};

inline std::string diagram_cluster(const diagram_step& s) {
  return s.nested || s.group ? "cluster_" + s.id : std::string{};
}
inline std::string diagram_undo_id(const diagram_step& s) { return 'u' + s.id.substr(1); }

/// Where edges into a step arrive: its node; a nested workflow's first step (clipped at the
/// workflow's cluster); each branch of a group (fan-out); a choice's decision node.
inline std::vector<diagram_end> diagram_entries(const diagram_step& s) {
  if (s.nested) return {{diagram_entries(s.steps.front()).front().id, diagram_cluster(s)}};
  if (s.group) {
    std::vector<diagram_end> out;
    for (const diagram_step& b : s.steps) {
      std::vector<diagram_end> e = diagram_entries(b);
      out.insert(out.end(), e.begin(), e.end());
    }
    return out;
  }
  return {{s.id, {}}};
}

/// Where edges out of a step leave: its node; a nested workflow's last step (clipped at the
/// workflow's cluster); each branch of a group (fan-in); each case of a choice (they join).
inline std::vector<diagram_end> diagram_exits(const diagram_step& s) {
  if (s.nested) return {{diagram_exits(s.steps.back()).front().id, diagram_cluster(s)}};
  if (s.group || s.choice) {
    std::vector<diagram_end> out;
    for (const diagram_step& b : s.steps) {
      std::vector<diagram_end> e = diagram_exits(b);
      out.insert(out.end(), e.begin(), e.end());
    }
    return out;
  }
  return {{s.id, {}}};
}

/// Compensable steps in the order they run: nested workflows' steps in place, a group's
/// branches in branch order, a choice's cases in case order.
inline void diagram_compensable(const diagram_step& wf, std::vector<const diagram_step*>& out) {
  for (const diagram_step& s : wf.steps) {
    if (s.nested || s.group || s.choice)
      diagram_compensable(s, out);
    else if (s.compensable)
      out.push_back(&s);
  }
}

inline void diagram_inner_edges(const diagram_step& s, std::vector<diagram_edge>& out);

/// Sequence edges of a workflow's steps: each exit of a step to each entry of the next.
inline void diagram_sequence_edges(const diagram_step& wf, std::vector<diagram_edge>& out) {
  for (std::size_t i = 0; i < wf.steps.size(); ++i) {
    const diagram_step& s = wf.steps[i];
    diagram_inner_edges(s, out);
    if (i + 1 == wf.steps.size()) continue;
    for (const diagram_end& from : diagram_exits(s))
      for (const diagram_end& to : diagram_entries(wf.steps[i + 1]))
        out.push_back(
            {from.id, to.id, diagram_edge_kind::sequence, from.cluster, to.cluster, true});
  }
}

/// The edges inside a step: a nested workflow's sequence; nothing between a group's branches;
/// a choice's decision node to each case, labelled with the case's index.
inline void diagram_inner_edges(const diagram_step& s, std::vector<diagram_edge>& out) {
  if (s.nested) {
    diagram_sequence_edges(s, out);
  } else if (s.group) {
    for (const diagram_step& b : s.steps) diagram_inner_edges(b, out);
  } else if (s.choice) {
    for (std::size_t k = 0; k < s.steps.size(); ++k) {
      for (const diagram_end& to : diagram_entries(s.steps[k]))
        out.push_back(
            {s.id, to.id, diagram_edge_kind::sequence, {}, to.cluster, true, std::to_string(k)});
      diagram_inner_edges(s.steps[k], out);
    }
  }
}

inline void diagram_data_edges(const diagram_step& wf, std::vector<diagram_edge>& out);

/// Data edges into step `s` at position `j` of `wf` (or into a branch or case of it): its reads
/// name steps before position `j` of `wf`.
inline void diagram_data_into(const diagram_step& wf, std::size_t j, const diagram_step& s,
                              std::vector<diagram_edge>& out) {
  if (s.nested) diagram_data_edges(s, out);
  if (s.group || s.choice)
    for (const diagram_step& b : s.steps) diagram_data_into(wf, j, b, out);
  if (s.reads.empty()) return;
  // A conditional workflow or group reads into its first step, clipped at its cluster.
  const diagram_end to = s.nested || s.group
                             ? diagram_end{diagram_entries(s).front().id, diagram_cluster(s)}
                             : diagram_end{s.id, {}};
  for (std::string_view read : s.reads)
    for (std::size_t i = 0; i < j; ++i)
      if (wf.steps[i].name == read)
        for (const diagram_end& from : diagram_exits(wf.steps[i]))
          out.push_back({from.id, to.id, diagram_edge_kind::data, from.cluster, to.cluster, false});
}

inline void diagram_data_edges(const diagram_step& wf, std::vector<diagram_edge>& out) {
  for (std::size_t j = 0; j < wf.steps.size(); ++j) diagram_data_into(wf, j, wf.steps[j], out);
}

/// A part of the undo chain: the undo nodes run first and last, and the edges inside it.
struct diagram_undo_part {
  std::vector<std::string> first, last;
  std::vector<diagram_edge> edges;
};

inline diagram_undo_part diagram_undo_chain(const diagram_step& s);

/// Steps (or branches) that run one after another are undone last first: each part's last
/// undo nodes lead to the first of the part run before it.
inline diagram_undo_part diagram_undo_sequence(const std::vector<diagram_step>& steps) {
  diagram_undo_part out;
  for (std::size_t k = steps.size(); k > 0; --k) {
    diagram_undo_part p = diagram_undo_chain(steps[k - 1]);
    if (p.first.empty()) continue;
    if (out.first.empty()) {
      out.first = p.first;
    } else {
      for (const std::string& from : out.last)
        for (const std::string& to : p.first)
          out.edges.push_back({from, to, diagram_edge_kind::compensation, {}, {}, false});
    }
    out.last = std::move(p.last);
    out.edges.insert(out.edges.end(), p.edges.begin(), p.edges.end());
  }
  return out;
}

/// Steps undone together (a parallel-compensated workflow): every part starts at once, none
/// waits for another, so no edge runs between them.
inline diagram_undo_part diagram_undo_together(const std::vector<diagram_step>& steps) {
  diagram_undo_part out;
  for (std::size_t k = steps.size(); k > 0; --k) {
    diagram_undo_part p = diagram_undo_chain(steps[k - 1]);
    out.first.insert(out.first.end(), p.first.begin(), p.first.end());
    out.last.insert(out.last.end(), p.last.begin(), p.last.end());
    out.edges.insert(out.edges.end(), p.edges.begin(), p.edges.end());
  }
  return out;
}

/// The undo chain of a workflow's (or a group's) steps.
inline diagram_undo_part diagram_undo_level(const diagram_step& s) {
  return s.parallel_undo ? diagram_undo_together(s.steps) : diagram_undo_sequence(s.steps);
}

/// A step's part of the undo chain. A group's compensable branches are undone at the group's
/// position in reverse branch order; the cases of a choice are alternatives (one ran).
inline diagram_undo_part diagram_undo_chain(const diagram_step& s) {
  if (s.nested || s.group) return diagram_undo_level(s);
  diagram_undo_part out;
  if (s.choice) {
    for (const diagram_step& c : s.steps) {
      diagram_undo_part p = diagram_undo_chain(c);
      out.first.insert(out.first.end(), p.first.begin(), p.first.end());
      out.last.insert(out.last.end(), p.last.begin(), p.last.end());
      out.edges.insert(out.edges.end(), p.edges.begin(), p.edges.end());
    }
  } else if (s.compensable) {
    out.first = out.last = {diagram_undo_id(s)};
  }
  return out;
}

/// Sequence edges, then each compensable step to its undo node, then the undo chain in the
/// order compensations run (last compensable step first), then data edges.
inline std::vector<diagram_edge> diagram_edges(const diagram_step& top) {
  std::vector<diagram_edge> out;
  diagram_sequence_edges(top, out);
  std::vector<const diagram_step*> undo;
  diagram_compensable(top, undo);
  for (const diagram_step* s : undo)
    out.push_back({s->id, diagram_undo_id(*s), diagram_edge_kind::compensation, {}, {}, true});
  diagram_undo_part chain = diagram_undo_level(top);
  out.insert(out.end(), chain.edges.begin(), chain.edges.end());
  diagram_data_edges(top, out);
  return out;
}

/// "optional" (a group's optional branch) and "when: conditional" (tutti::when), when they apply.
inline void diagram_markers(const diagram_step& s, std::vector<std::string>& lines) {
  if (s.optional) lines.emplace_back("optional");
  if (s.conditional) lines.emplace_back("when: conditional");
}
inline std::vector<std::string> diagram_step_label(const diagram_step& s) {
  std::vector<std::string> lines{std::string{s.name}};
  diagram_markers(s, lines);
  if (s.pivot) lines.emplace_back("pivot");
  if (s.compensable) lines.emplace_back("compensable");
  lines.insert(lines.end(), s.policies.begin(), s.policies.end());
  return lines;
}
inline std::vector<std::string> diagram_workflow_label(const diagram_step& s) {
  std::vector<std::string> lines{"workflow " + std::string{s.name}};
  diagram_markers(s, lines);
  if (s.parallel_undo) lines.emplace_back("undone in parallel");
  lines.insert(lines.end(), s.policies.begin(), s.policies.end());
  return lines;
}
/// A group's cluster, a choice's decision node: the name, the kind ("quorum 2 of 3", "choose"),
/// the markers and the policies around it.
inline std::vector<std::string> diagram_control_label(const diagram_step& s) {
  std::vector<std::string> lines{std::string{s.name}, s.kind};
  diagram_markers(s, lines);
  lines.insert(lines.end(), s.policies.begin(), s.policies.end());
  return lines;
}
inline std::vector<std::string> diagram_undo_label(const diagram_step& s) {
  std::vector<std::string> lines{"undo " + std::string{s.name}};
  lines.insert(lines.end(), s.undo_policies.begin(), s.undo_policies.end());
  return lines;
}

// ---- Graphviz DOT ----------------------------------------------------------------------------

/// A quoted DOT string: `"` and `\` escaped; lines joined by DOT's `\n`; control characters
/// become spaces (each line of a label stays one line). Nothing else is special in a quoted
/// label of a non-record shape (`<>{}|` are plain text there).
inline std::string dot_quote(const std::vector<std::string>& lines) {
  std::string out{'"'};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i != 0) out += "\\n";
    for (const char c : lines[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
  }
  out += '"';
  return out;
}

inline void dot_steps(std::string& out, const diagram_step& wf, const std::string& indent) {
  for (const diagram_step& s : wf.steps) {
    if (s.nested) {
      out += indent + "subgraph " + diagram_cluster(s) + " {\n";
      out += indent + "  label=" + dot_quote(diagram_workflow_label(s)) + ";\n";
      out += indent +
             "  class=\"workflow\"; style=\"rounded,dashed\"; labeljust=l; color=\"#5f6b7a\"; "
             "fontcolor=\"#5f6b7a\";\n";
      dot_steps(out, s, indent + "  ");
      out += indent + "}\n";
      continue;
    }
    if (s.group) {  // the branches side by side in a cluster, no edges between them
      out += indent + "subgraph " + diagram_cluster(s) + " {\n";
      out += indent + "  label=" + dot_quote(diagram_control_label(s)) + ";\n";
      out += indent +
             "  class=\"group\"; style=\"rounded,bold\"; labeljust=l; color=\"#2e7d32\"; "
             "fontcolor=\"#2e7d32\";\n";
      dot_steps(out, s, indent + "  ");
      out += indent + "}\n";
      continue;
    }
    if (s.choice) {  // a decision node, then its cases (side by side: one edge to each)
      out += indent + s.id + " [label=" + dot_quote(diagram_control_label(s)) +
             ", class=\"choice\", shape=diamond, style=filled, fillcolor=\"#f3e8fd\", "
             "color=\"#7b3fb8\"];\n";
      dot_steps(out, s, indent);
      continue;
    }
    out += indent + s.id + " [label=" + dot_quote(diagram_step_label(s));
    if (s.pivot)
      out +=
          ", class=\"step pivot\", shape=hexagon, peripheries=2, style=\"filled,bold\", "
          "fillcolor=\"#fff3cd\", color=\"#b8860b\"";
    else if (s.compensable)
      out +=
          ", class=\"step compensable\", style=\"rounded,filled\", fillcolor=\"#e8f0fe\", "
          "color=\"#3b6fd1\"";
    else
      out += ", class=\"step\"";
    out += "];\n";
    if (s.compensable) {
      const std::string u = diagram_undo_id(s);
      out += indent + u + " [label=" + dot_quote(diagram_undo_label(s)) +
             ", class=\"undo\", style=\"rounded,dashed\", color=\"#b22222\", "
             "fontcolor=\"#b22222\"];\n";
      out += indent + "{ rank=same; " + s.id + "; " + u + "; }\n";
    }
  }
}

inline std::string diagram_dot(const diagram_step& top) {
  std::string out = "digraph " + dot_quote({std::string{top.name}}) + " {\n";
  out += "  graph [label=" + dot_quote(diagram_workflow_label(top)) +
         ", labelloc=t, fontname=\"Helvetica\", compound=true, newrank=true, nodesep=0.5];\n";
  out += "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  dot_steps(out, top, "  ");
  for (const diagram_edge& e : diagram_edges(top)) {
    out += "  " + e.from + " -> " + e.to;
    switch (e.kind) {
      case diagram_edge_kind::sequence:
        out += " [class=\"sequence\"";
        break;
      case diagram_edge_kind::compensation:
        out += " [class=\"compensation\", style=dashed, color=\"#b22222\"";
        break;
      case diagram_edge_kind::data:
        out += " [class=\"data\", style=dotted, color=\"#6b6b6b\", arrowhead=empty";
        break;
    }
    if (!e.ranks) out += ", constraint=false";
    if (!e.from_cluster.empty()) out += ", ltail=" + e.from_cluster;
    if (!e.to_cluster.empty()) out += ", lhead=" + e.to_cluster;
    if (!e.label.empty()) out += ", label=" + dot_quote({e.label});
    out += "];\n";
  }
  out += "}\n";
  return out;
}

// ---- Mermaid ---------------------------------------------------------------------------------

/// A quoted Mermaid label: `" # < > & \`` as entity codes (Mermaid decodes `#name;` and
/// `#123;`, and would read `<...>` as HTML and a leading backtick as Markdown); lines joined by
/// `<br/>`; control characters become spaces.
inline std::string mermaid_quote(const std::vector<std::string>& lines) {
  std::string out{'"'};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i != 0) out += "<br/>";
    for (const char c : lines[i]) {
      switch (c) {
        case '"':
          out += "#quot;";
          break;
        case '#':
          out += "#35;";
          break;
        case '<':
          out += "#lt;";
          break;
        case '>':
          out += "#gt;";
          break;
        case '&':
          out += "#amp;";
          break;
        case '`':
          out += "#96;";
          break;
        default:
          out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
      }
    }
  }
  out += '"';
  return out;
}

/// Appends to a comma-separated list ("s1,s4") as `class` and `linkStyle` take them.
inline void mermaid_list_add(std::string& list, const std::string& item) {
  if (!list.empty()) list += ',';
  list += item;
}

struct mermaid_classes {
  std::string compensable, pivot, undo;
};

inline void mermaid_steps(std::string& out, const diagram_step& wf, const std::string& indent,
                          mermaid_classes& classes) {
  for (const diagram_step& s : wf.steps) {
    if (s.nested) {
      out += indent + "subgraph " + s.id + " [" + mermaid_quote(diagram_workflow_label(s)) + "]\n";
      out += indent + "  direction TB\n";
      mermaid_steps(out, s, indent + "  ", classes);
      out += indent + "end\n";
      continue;
    }
    if (s.group) {  // branches side by side
      out += indent + "subgraph " + s.id + " [" + mermaid_quote(diagram_control_label(s)) + "]\n";
      out += indent + "  direction LR\n";
      mermaid_steps(out, s, indent + "  ", classes);
      out += indent + "end\n";
      continue;
    }
    if (s.choice) {  // a rhombus, then its cases
      out += indent + s.id + '{' + mermaid_quote(diagram_control_label(s)) + "}\n";
      mermaid_steps(out, s, indent, classes);
      continue;
    }
    const std::string label = mermaid_quote(diagram_step_label(s));
    if (s.pivot) {
      out += indent + s.id + "{{" + label + "}}\n";
      mermaid_list_add(classes.pivot, s.id);
    } else {
      out += indent + s.id + '[' + label + "]\n";
      if (s.compensable) mermaid_list_add(classes.compensable, s.id);
    }
    if (s.compensable) {
      const std::string u = diagram_undo_id(s);
      out += indent + u + "([" + mermaid_quote(diagram_undo_label(s)) + "])\n";
      mermaid_list_add(classes.undo, u);
    }
  }
}

/// YAML single-quoted scalar, for the front matter's title.
inline std::string yaml_quote(std::string_view text) {
  std::string out{'\''};
  for (const char c : text) {
    if (c == '\'') out += '\'';
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  out += '\'';
  return out;
}

inline std::string diagram_mermaid(const diagram_step& top) {
  std::string out = "---\ntitle: " + yaml_quote("workflow " + std::string{top.name}) + "\n---\n";
  out += "flowchart TB\n";
  mermaid_classes classes;
  mermaid_steps(out, top, "  ", classes);
  std::string compensation_links, data_links;
  std::size_t index = 0;
  for (const diagram_edge& e : diagram_edges(top)) {
    switch (e.kind) {
      case diagram_edge_kind::sequence:
        out += "  " + e.from + (e.label.empty() ? " --> " : " -->|" + e.label + "| ") + e.to + '\n';
        break;
      case diagram_edge_kind::compensation:
        out += "  " + e.from + " -.-> " + e.to + '\n';
        mermaid_list_add(compensation_links, std::to_string(index));
        break;
      case diagram_edge_kind::data:
        out += "  " + e.from + " -.->|data| " + e.to + '\n';
        mermaid_list_add(data_links, std::to_string(index));
        break;
    }
    ++index;
  }
  out += "  classDef compensable fill:#e8f0fe,stroke:#3b6fd1\n";
  out += "  classDef pivot fill:#fff3cd,stroke:#b8860b,stroke-width:3px\n";
  out += "  classDef undo fill:#ffffff,stroke:#b22222,color:#b22222,stroke-dasharray:4 3\n";
  if (!classes.compensable.empty()) out += "  class " + classes.compensable + " compensable\n";
  if (!classes.pivot.empty()) out += "  class " + classes.pivot + " pivot\n";
  if (!classes.undo.empty()) out += "  class " + classes.undo + " undo\n";
  if (!compensation_links.empty()) out += "  linkStyle " + compensation_links + " stroke:#b22222\n";
  if (!data_links.empty()) out += "  linkStyle " + data_links + " stroke:#6b6b6b\n";
  return out;
}

/// Names the rule a non-workflow argument breaks.
template <class T>
struct diagram_of_a_workflow {
  static constexpr bool value = is_workflow_v<std::remove_cvref_t<T>>;
};
}  // namespace detail

/**
 * A Graphviz DOT diagram of `wf`, drawn from its type without running it: steps in order
 * (solid edges), each step's saga role (the pivot a double-bordered hexagon, compensable steps
 * filled and linked by a dashed edge to an "undo <step>" node), the undo chain in the order
 * compensations run (dashed), policies inner to outer with their settings ("retry: 3 attempts,
 * exponential", "timeout 200 ms"), nested workflows as clusters, parallel groups as clusters of
 * branches side by side (fan-out and fan-in edges), choices as a decision node with an edge per
 * case, `tutti::when` steps marked "when: conditional", and `from<"step", T>` reads as
 * dotted edges. Render it with `dot -Tsvg`. See docs/observability/diagrams.md.
 * Only reads `wf` (thread-safe); allocates: meant for tools, docs and start-up logs.
 *
 * ```text
 * std::ofstream{"payment.dot"} << tutti::to_dot(wf);   // then: dot -Tsvg payment.dot -o
 * payment.svg
 * ```
 */
template <fixed_string Name, class... N>
[[nodiscard]] std::string to_dot(const basic_workflow<Name, N...>& wf) {
  return detail::diagram_dot(detail::diagram_model(&wf));
}

/// The same diagram as Mermaid `flowchart` source (for Markdown that renders Mermaid).
template <fixed_string Name, class... N>
[[nodiscard]] std::string to_mermaid(const basic_workflow<Name, N...>& wf) {
  return detail::diagram_mermaid(detail::diagram_model(&wf));
}

/// A workflow built with `compensate_in_parallel(exec)`: its undo nodes are entered together,
/// with no chain between them.
template <class W, class E>
[[nodiscard]] std::string to_dot(const parallel_compensated<W, E>& wf) {
  return detail::diagram_dot(detail::diagram_model(&wf));
}
template <class W, class E>
[[nodiscard]] std::string to_mermaid(const parallel_compensated<W, E>& wf) {
  return detail::diagram_mermaid(detail::diagram_model(&wf));
}

/// The DOT diagram of workflow type `W`, with no object: policies by name only, no settings.
/// `tutti::to_dot<decltype(wf)>()` or `tutti::to_dot<my_workflow_of_types>()`.
template <class W>
[[nodiscard]] std::string to_dot() {
  using D = std::remove_cvref_t<W>;
  static_assert(detail::diagram_of_a_workflow<W>::value,
                "tutti: to_dot<W>() draws a workflow type: W must be a tutti::basic_workflow "
                "(the type of tutti::workflow<\"name\">(...), or tutti::workflow_of<...>).");
  if constexpr (detail::is_workflow_v<D>)
    return detail::diagram_dot(detail::diagram_model(static_cast<const D*>(nullptr)));
  else
    return {};
}

/// The Mermaid diagram of workflow type `W`, with no object: policies by name only.
template <class W>
[[nodiscard]] std::string to_mermaid() {
  using D = std::remove_cvref_t<W>;
  static_assert(detail::diagram_of_a_workflow<W>::value,
                "tutti: to_mermaid<W>() draws a workflow type: W must be a tutti::basic_workflow "
                "(the type of tutti::workflow<\"name\">(...), or tutti::workflow_of<...>).");
  if constexpr (detail::is_workflow_v<D>)
    return detail::diagram_mermaid(detail::diagram_model(static_cast<const D*>(nullptr)));
  else
    return {};
}

// A single step (or a step with policies) is no workflow: say how to draw it.
template <class T>
requires(!detail::is_workflow_v<std::remove_cvref_t<T>>) std::string to_dot(const T&) {
  static_assert(detail::always_false<T>,
                "tutti: to_dot(x) draws a workflow: x must be a tutti::workflow<\"name\">(...). "
                "To draw one step, put it in a workflow of its own.");
  return {};
}
template <class T>
requires(!detail::is_workflow_v<std::remove_cvref_t<T>>) std::string to_mermaid(const T&) {
  static_assert(
      detail::always_false<T>,
      "tutti: to_mermaid(x) draws a workflow: x must be a tutti::workflow<\"name\">(...). "
      "To draw one step, put it in a workflow of its own.");
  return {};
}

TUTTI_END_NAMESPACE

#endif  // TUTTI_OBSERVE_DIAGRAM_HPP
