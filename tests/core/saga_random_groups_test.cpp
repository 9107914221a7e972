// Randomised saga test over workflows with parallel groups and conditionals: seeded random fault
// schedules (which steps and branches fail, which compensations fail, what `when` predicates
// and `choose` selectors answer) over five fixed shapes, checked against an independent model
// (plain C++ below, no tutti) of what must run and what must be undone, in which order.
//
// Workflow structure is a compile-time type, so the shapes are fixed; the randomness is runtime
// state: every callable looks itself up in the run's schedule (the workflow input).
//
// Reproduce one inline case with TUTTI_SAGA_SEED=<seed> (printed with every failure; the shape
// is seed % 5), one thread-pool case with TUTTI_SAGA_POOL_SEED=<seed>.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>
#include <tutti/tutti.hpp>

namespace {

constexpr std::size_t max_leaves = 16;

struct schedule {
  std::array<bool, max_leaves> fail{};        // leaf i's callable fails
  std::array<bool, max_leaves> throws{};      // ... by throwing (else errc::timeout)
  std::array<bool, max_leaves> comp_fail{};   // leaf i's compensation fails
  std::array<bool, max_leaves> comp_throw{};  // ... by throwing (else errc::cancelled)
  std::array<bool, 2> go{};                   // answers of the `when` / `if_else` predicates
  std::array<int, 2> sel{};                   // answers of the `choose` selectors
  bool jitter = false;                        // thread-pool runs: yield inside steps
};

// What the callables did. Branches may run on pool threads: guarded.
struct world {
  std::mutex m;
  std::vector<int> calls;                  // leaf ids, in call order
  std::vector<std::pair<int, int>> undos;  // (leaf id, value received), in order
};
world g;

tutti::result<int> do_step(int id, const schedule& s) {
  {
    const std::lock_guard lock{g.m};
    g.calls.push_back(id);
  }
  if (s.jitter) std::this_thread::yield();
  const auto i = static_cast<std::size_t>(id);
  if (s.fail[i]) {
    if (s.throws[i]) throw std::runtime_error("boom " + std::to_string(id));
    return tutti::errc::timeout;
  }
  return 1000 + id;
}

tutti::result<void> do_undo(int id, int value, const schedule& s) {
  {
    const std::lock_guard lock{g.m};
    g.undos.emplace_back(id, value);
  }
  const auto i = static_cast<std::size_t>(id);
  if (s.comp_fail[i]) {
    if (s.comp_throw[i]) throw std::runtime_error("undo boom " + std::to_string(id));
    return tutti::errc::cancelled;
  }
  return tutti::outcome::success();
}

template <int Id>
constexpr auto leaf_name() {
  tutti::fixed_string<4> n;
  n.data[0] = 's';
  n.data[1] = static_cast<char>('0' + Id / 10);
  n.data[2] = static_cast<char>('0' + Id % 10);
  return n;
}
std::string leaf_name(int id) {
  std::string n = "s00";
  n[1] = static_cast<char>('0' + id / 10);
  n[2] = static_cast<char>('0' + id % 10);
  return n;
}

/// A compensable leaf step.
template <int Id>
auto C() {
  return tutti::step<leaf_name<Id>()>([](const schedule& s) { return do_step(Id, s); })
      .compensate_with([](const int& v, const schedule& s) { return do_undo(Id, v, s); });
}
/// A leaf step without compensation.
template <int Id>
auto N() {
  return tutti::step<leaf_name<Id>()>([](const schedule& s) { return do_step(Id, s); });
}
template <std::size_t K>
auto go() {
  return [](const schedule& s) { return s.go[K]; };
}
template <std::size_t K>
auto sel() {
  return [](const schedule& s) { return s.sel[K]; };
}

// ---- the independent model -------------------------------------------------------------------

struct mnode {
  enum kind_t { leaf, group, seq, when, choose } kind = leaf;
  int id = -1;  // leaf
  bool comp = false;
  bool optional = false;  // an optional branch of its group
  bool by_bool = false;   // choose: an if_else (the selector is schedule::go[slot])
  std::size_t slot = 0;   // when / choose: index into schedule::go / schedule::sel
  std::string name;
  std::vector<mnode> kids;
};

mnode L(int id, bool comp) { return {mnode::leaf, id, comp, false, false, 0, leaf_name(id), {}}; }
mnode G(std::string name, std::vector<mnode> kids) {
  return {mnode::group, -1, false, false, false, 0, std::move(name), std::move(kids)};
}
mnode W(std::string name, std::vector<mnode> kids) {
  return {mnode::seq, -1, false, false, false, 0, std::move(name), std::move(kids)};
}
mnode Opt(mnode n) {
  n.optional = true;
  return n;
}
mnode When(std::size_t slot, mnode kid) {
  std::string name = kid.name;
  return {mnode::when, -1, false, false, false, slot, std::move(name), {std::move(kid)}};
}
mnode Choose(std::string name, std::size_t slot, std::vector<mnode> kids) {
  return {mnode::choose, -1, false, false, false, slot, std::move(name), std::move(kids)};
}
// if_else: cases then (index 0) / else (index 1) on a bool from schedule::go.
mnode IfElse(std::string name, std::size_t slot, mnode then_node, mnode else_node) {
  mnode n = Choose(std::move(name), slot, {std::move(then_node), std::move(else_node)});
  n.by_bool = true;
  return n;
}

bool contains_comp(const mnode& n) {
  if (n.kind == mnode::leaf) return n.comp;
  return std::any_of(n.kids.begin(), n.kids.end(), contains_comp);
}
void leaves_of(const mnode& n, std::vector<int>& out) {
  if (n.kind == mnode::leaf) out.push_back(n.id);
  for (const auto& k : n.kids) leaves_of(k, out);
}
std::vector<int> leaves_of(const mnode& n) {
  std::vector<int> out;
  leaves_of(n, out);
  return out;
}

/// Deliberate mistakes, for the self-check that the comparison catches a wrong model.
enum class mutation {
  none,
  forward_branch_order,     // undo a group's branches in forward order
  undo_failed_optional,     // undo an optional branch that failed
  earlier_steps_first,      // a failing group undoes the earlier steps before its own branches
  start_later_branches,     // inline: run the branches after a failed one anyway
  stop_after_comp_failure,  // stop compensating after a failed compensation
};

struct mstate {
  bool ok = false;
  bool skipped = false;
  std::size_t chosen = 0;
  std::vector<mstate> kids;
  std::error_code err;
  std::string msg;
};

struct expected {
  std::vector<int> calls;
  std::vector<std::pair<int, int>> undos;
  std::vector<tutti::step_status> status;
  std::vector<std::error_code> comp_error;  // per top-level node, when compensation_failed
  tutti::run_outcome outcome = tutti::run_outcome::succeeded;
  int failed = -1;
  std::error_code error;
  std::string message;
};

class model {
 public:
  model(const schedule& s, mutation m) : s_(s), m_(m) {}

  expected run_top(const mnode& wf) {
    const std::size_t n = wf.kids.size();
    e_.status.assign(n, tutti::step_status::not_started);
    e_.comp_error.assign(n, {});
    std::vector<mstate> st(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (run(wf.kids[i], st[i])) {
        e_.status[i] = st[i].skipped ? tutti::step_status::skipped : tutti::step_status::succeeded;
        continue;
      }
      e_.status[i] = tutti::step_status::failed;
      e_.failed = static_cast<int>(i);
      e_.error = st[i].err;
      e_.message = st[i].msg;
      break;
    }
    if (e_.failed < 0) return e_;
    if (m_ == mutation::earlier_steps_first && pending_group_undo_) pending_group_undo_();
    for (int j = e_.failed - 1; j >= 0 && !stopped_; --j) {
      const auto ju = static_cast<std::size_t>(j);
      if (e_.status[ju] != tutti::step_status::succeeded || !undoable(wf.kids[ju], st[ju])) continue;
      if (engine_undo(wf.kids[ju], st[ju])) {
        e_.status[ju] = tutti::step_status::compensated;
      } else {
        e_.status[ju] = tutti::step_status::compensation_failed;
        e_.comp_error[ju] = comp_error_of(wf.kids[ju]);
      }
    }
    e_.outcome = comp_failed_ ? tutti::run_outcome::compensation_failed
                 : comp_any_  ? tutti::run_outcome::compensated
                              : tutti::run_outcome::failed;
    return e_;
  }

 private:
  std::error_code comp_error_of(const mnode& n) const {
    if (n.kind == mnode::leaf) {
      return s_.comp_throw[static_cast<std::size_t>(n.id)] ? make_error_code(tutti::errc::exception)
                                                          : make_error_code(tutti::errc::cancelled);
    }
    if (n.kind == mnode::when) return comp_error_of(n.kids[0]);
    return make_error_code(tutti::errc::compensation_failed);
  }

  static std::string prefixed(const std::string& name, const mstate& st) {
    return name + ": " + (st.msg.empty() ? st.err.message() : st.msg);
  }

  bool run(const mnode& n, mstate& st) {
    switch (n.kind) {
      case mnode::leaf: {
        const auto i = static_cast<std::size_t>(n.id);
        e_.calls.push_back(n.id);
        if (s_.fail[i]) {
          st.err = make_error_code(s_.throws[i] ? tutti::errc::exception : tutti::errc::timeout);
          st.msg = s_.throws[i] ? "boom " + std::to_string(n.id) : "";
          return st.ok = false;
        }
        return st.ok = true;
      }
      case mnode::seq: {  // a nested workflow: on failure it undoes its own completed steps
        st.kids.resize(n.kids.size());
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (run(n.kids[i], st.kids[i])) continue;
          undo_seq(n, st, i);
          st.err = st.kids[i].err;
          st.msg = prefixed(n.kids[i].name, st.kids[i]);
          return st.ok = false;
        }
        return st.ok = true;
      }
      case mnode::group: {
        st.kids.resize(n.kids.size());
        int decided = -1;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (decided >= 0 && m_ != mutation::start_later_branches) continue;  // not started
          if (!run(n.kids[i], st.kids[i]) && !n.kids[i].optional && decided < 0)
            decided = static_cast<int>(i);
        }
        if (decided < 0) return st.ok = true;
        const auto d = static_cast<std::size_t>(decided);
        st.err = st.kids[d].err;
        st.msg = prefixed(n.kids[d].name, st.kids[d]);
        if (m_ == mutation::earlier_steps_first && !pending_group_undo_) {
          pending_group_undo_ = [this, &n, &st] { undo_group(n, st); };
          // (run_top calls it before the earlier steps; st outlives it: run_top's locals)
          return st.ok = false;
        }
        undo_group(n, st);
        return st.ok = false;
      }
      case mnode::when: {
        st.kids.resize(1);
        if (!s_.go[n.slot]) {
          st.skipped = true;
          return st.ok = true;
        }
        st.ok = run(n.kids[0], st.kids[0]);
        st.err = st.kids[0].err;
        st.msg = st.kids[0].msg;
        return st.ok;
      }
      case mnode::choose: {
        st.kids.resize(n.kids.size());
        std::size_t k = 0;
        if (n.by_bool) {
          k = s_.go[n.slot] ? 0 : 1;
        } else {
          k = static_cast<std::size_t>(s_.sel[n.slot]);
          if (k >= n.kids.size()) {
            st.err = make_error_code(tutti::errc::invalid_argument);
            st.msg = "the selector chose case " + std::to_string(k) + " of " +
                     std::to_string(n.kids.size()) + " (0 to " +
                     std::to_string(n.kids.size() - 1) + ")";
            return st.ok = false;
          }
        }
        st.chosen = k;
        if (run(n.kids[k], st.kids[k])) return st.ok = true;
        st.err = st.kids[k].err;
        st.msg = prefixed(n.kids[k].name, st.kids[k]);
        return st.ok = false;
      }
    }
    return false;
  }

  /// Whether an engine level would undo this node: it completed (not skipped) and holds
  /// something compensable.
  /// What the engine undoes: a completed node with a compensation in the part that ran (a
  /// choice's chosen case, a group's kept branches; a when's inner node).
  static bool undoable(const mnode& n, const mstate& st) {
    if (!st.ok || st.skipped) return false;
    if (n.kind == mnode::choose) return contains_comp(n.kids[st.chosen]);
    if (n.kind == mnode::group) {
      for (std::size_t i = 0; i < n.kids.size(); ++i)
        if (i < st.kids.size() && st.kids[i].ok && contains_comp(n.kids[i])) return true;
      return false;
    }
    if (n.kind == mnode::when && !st.kids.empty()) return undoable(n.kids[0], st.kids[0]);
    return contains_comp(n);
  }

  /// An undo as an engine level does it: its success or failure is noted for the outcome.
  bool engine_undo(const mnode& n, mstate& st) {
    const bool ok = undo(n, st);
    (ok ? comp_any_ : comp_failed_) = true;
    if (!ok && m_ == mutation::stop_after_comp_failure) stopped_ = true;
    return ok;
  }

  void undo_seq(const mnode& n, mstate& st, std::size_t upto) {
    for (std::size_t j = upto; j-- > 0 && !stopped_;)
      if (undoable(n.kids[j], st.kids[j])) engine_undo(n.kids[j], st.kids[j]);
  }

  bool undo_group(const mnode& n, mstate& st) {
    bool ok = true;
    const std::size_t size = n.kids.size();
    for (std::size_t k = 0; k < size && !stopped_; ++k) {
      const std::size_t i = m_ == mutation::forward_branch_order ? k : size - 1 - k;
      const mnode& b = n.kids[i];
      mstate& bs = st.kids[i];
      if (undoable(b, bs)) {
        ok = engine_undo(b, bs) && ok;
      } else if (m_ == mutation::undo_failed_optional && b.optional && b.kind == mnode::leaf &&
                 b.comp && bs.err) {
        e_.undos.emplace_back(b.id, 1000 + b.id);
      }
    }
    return ok;
  }

  bool undo(const mnode& n, mstate& st) {
    switch (n.kind) {
      case mnode::leaf: {
        e_.undos.emplace_back(n.id, 1000 + n.id);
        return !s_.comp_fail[static_cast<std::size_t>(n.id)];
      }
      case mnode::seq: {
        const bool before = comp_failed_;
        comp_failed_ = false;
        undo_seq(n, st, n.kids.size());
        const bool failed_now = comp_failed_;
        comp_failed_ = before || failed_now;
        return !failed_now;
      }
      case mnode::group: {
        // A completed group: the branches it kept (those that succeeded), reverse branch order.
        return undo_group(n, st);
      }
      case mnode::when:
        return st.skipped || undo(n.kids[0], st.kids[0]);
      case mnode::choose: {
        const mnode& c = n.kids[st.chosen];
        if (!undoable(c, st.kids[st.chosen])) return true;
        return engine_undo(c, st.kids[st.chosen]);
      }
    }
    return false;
  }

  const schedule& s_;
  mutation m_;
  expected e_;
  bool comp_any_ = false;
  bool comp_failed_ = false;
  bool stopped_ = false;
  std::function<void()> pending_group_undo_;
};

expected predict(const mnode& wf, const schedule& s, mutation m = mutation::none) {
  return model(s, m).run_top(wf);
}

// ---- the shapes ------------------------------------------------------------------------------
// Each: make(executor) builds the workflow (its groups on that executor), tree() is the same
// shape for the model, leaves / cases size the schedule.

// [s, parallel(a, b, c), s, when(p, s), s]
struct shape_a {
  static constexpr const char* label = "A: s, parallel(a, b, c), s, when(p, s), s";
  static constexpr std::size_t leaves = 7;
  static constexpr std::array<int, 2> cases{0, 0};
  template <class E>
  static auto make(E& ex) {
    return tutti::workflow<"A">(C<0>(), tutti::parallel<"g1">(ex, C<1>(), N<2>(), C<3>()), C<4>(),
                                tutti::when(go<0>(), C<5>()), N<6>());
  }
  static mnode tree() {
    return W("A", {L(0, true), G("g1", {L(1, true), L(2, false), L(3, true)}), L(4, true),
                   When(0, L(5, true)), L(6, false)});
  }
};

// [parallel(a, optional_branch(b), c), choose(sel, x, y, z), s]
struct shape_b {
  static constexpr const char* label = "B: parallel(a, optional(b), c), choose(sel, x, y, z), s";
  static constexpr std::size_t leaves = 7;
  static constexpr std::array<int, 2> cases{3, 0};
  template <class E>
  static auto make(E& ex) {
    return tutti::workflow<"B">(
        tutti::parallel<"g1">(ex, C<0>(), tutti::optional_branch(C<1>()), C<2>()),
        tutti::choose<"route">(sel<0>(), C<3>(), C<4>(), N<5>()), C<6>());
  }
  static mnode tree() {
    return W("B", {G("g1", {L(0, true), Opt(L(1, true)), L(2, true)}),
                   Choose("route", 0, {L(3, true), L(4, true), L(5, false)}), L(6, true)});
  }
};

// [s, parallel(workflow(a, b), c, optional_branch(workflow(d, e, f))), s]
struct shape_c {
  static constexpr const char* label =
      "C: s, parallel(workflow(a, b), c, optional(workflow(d, e, f))), s";
  static constexpr std::size_t leaves = 8;
  static constexpr std::array<int, 2> cases{0, 0};
  template <class E>
  static auto make(E& ex) {
    return tutti::workflow<"C">(
        C<0>(),
        tutti::parallel<"g1">(ex, tutti::workflow<"n1">(C<1>(), C<2>()), C<3>(),
                              tutti::optional_branch(tutti::workflow<"n2">(C<4>(), N<5>(), C<6>()))),
        C<7>());
  }
  static mnode tree() {
    return W("C", {L(0, true),
                   G("g1", {W("n1", {L(1, true), L(2, true)}), L(3, true),
                            Opt(W("n2", {L(4, true), L(5, false), L(6, true)}))}),
                   L(7, true)});
  }
};

// [s, parallel(a, parallel(b, c, optional_branch(d)), e), when(p, parallel(f, g)),
//  if_else(q, h, i), s]
struct shape_d {
  static constexpr const char* label =
      "D: s, parallel(a, parallel(b, c, optional(d)), e), when(p, parallel(f, g)), "
      "if_else(q, h, i), s";
  static constexpr std::size_t leaves = 11;
  static constexpr std::array<int, 2> cases{0, 0};
  template <class E>
  static auto make(E& ex) {
    return tutti::workflow<"D">(
        C<0>(),
        tutti::parallel<"outer">(
            ex, C<1>(), tutti::parallel<"inner">(ex, C<2>(), C<3>(), tutti::optional_branch(C<4>())),
            C<5>()),
        tutti::when(go<0>(), tutti::parallel<"g2">(ex, C<6>(), N<7>())),
        tutti::if_else<"ie">(go<1>(), C<8>(), C<9>()), C<10>());
  }
  static mnode tree() {
    return W("D", {L(0, true),
                   G("outer", {L(1, true), G("inner", {L(2, true), L(3, true), Opt(L(4, true))}),
                               L(5, true)}),
                   When(0, G("g2", {L(6, true), L(7, false)})),
                   IfElse("ie", 1, L(8, true), L(9, true)), L(10, true)});
  }
};

// [s, choose(sel, workflow(a, b), parallel(c, d), when(p, e)), s]
struct shape_e {
  static constexpr const char* label =
      "E: s, choose(sel, workflow(a, b), parallel(c, d), when(p, e)), s";
  static constexpr std::size_t leaves = 7;
  static constexpr std::array<int, 2> cases{3, 0};
  template <class E>
  static auto make(E& ex) {
    return tutti::workflow<"E">(
        C<0>(),
        tutti::choose<"route">(sel<0>(), tutti::workflow<"wa">(C<1>(), C<2>()),
                               tutti::parallel<"gb">(ex, C<3>(), C<4>()),
                               tutti::when(go<0>(), C<5>())),
        C<6>());
  }
  static mnode tree() {
    return W("E", {L(0, true),
                   Choose("route", 0,
                          {W("wa", {L(1, true), L(2, true)}), G("gb", {L(3, true), L(4, true)}),
                           When(0, L(5, true))}),
                   L(6, true)});
  }
};

constexpr std::size_t shape_count = 5;

template <class Shape>
schedule draw(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  schedule s;
  // About a third of the runs have no failing step.
  const double p_fail = 1.0 / static_cast<double>(Shape::leaves);
  for (std::size_t i = 0; i < Shape::leaves; ++i) {
    s.fail[i] = std::bernoulli_distribution(p_fail)(rng);
    s.throws[i] = std::bernoulli_distribution(0.4)(rng);
    s.comp_fail[i] = std::bernoulli_distribution(0.2)(rng);
    s.comp_throw[i] = std::bernoulli_distribution(0.5)(rng);
  }
  for (std::size_t k = 0; k < 2; ++k) {
    s.go[k] = std::bernoulli_distribution(0.6)(rng);
    const int n = Shape::cases[k];
    if (n > 0) {
      // 1 in 10: an index out of range (the choice fails with invalid_argument).
      s.sel[k] = std::bernoulli_distribution(0.1)(rng)
                     ? n
                     : std::uniform_int_distribution<int>(0, n - 1)(rng);
    }
  }
  return s;
}

std::string describe(const schedule& s, std::size_t leaves) {
  std::ostringstream o;
  o << "fail:";
  for (std::size_t i = 0; i < leaves; ++i)
    if (s.fail[i]) o << ' ' << i << (s.throws[i] ? "(throws)" : "");
  o << "; compensation fails:";
  for (std::size_t i = 0; i < leaves; ++i)
    if (s.comp_fail[i]) o << ' ' << i << (s.comp_throw[i] ? "(throws)" : "");
  o << "; go " << s.go[0] << s.go[1] << "; sel " << s.sel[0];
  return o.str();
}

template <class T>
std::string show(const std::vector<T>& v) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) o << ", ";
    if constexpr (std::is_same_v<T, std::pair<int, int>>) o << v[i].first << ':' << v[i].second;
    else o << static_cast<int>(v[i]);
  }
  o << ']';
  return o.str();
}

struct observed {
  std::vector<int> calls;
  std::vector<std::pair<int, int>> undos;
  std::vector<tutti::step_status> status;
  std::vector<std::error_code> comp_error;
  tutti::run_outcome outcome{};
  int failed = -1;
  std::string failed_step_name;
  std::string failed_step;
  std::error_code error;
  std::string message;
  bool has_value = false;
};

template <class Wf>
observed run_once(const Wf& wf, const schedule& s) {
  {
    const std::lock_guard lock{g.m};
    g.calls.clear();
    g.undos.clear();
  }
  const auto run = wf.run(s);  // default options: compensation_policy::continue_on_failure
  observed o;
  {
    const std::lock_guard lock{g.m};
    o.calls = g.calls;
    o.undos = g.undos;
  }
  const auto report = run.report();
  for (std::size_t i = 0; i < report.size(); ++i) {
    const auto line = report[i];
    o.status.push_back(line.status);
    o.comp_error.push_back(line.status == tutti::step_status::compensation_failed
                               ? line.compensation_error
                               : std::error_code{});
    if (line.status == tutti::step_status::failed) {
      o.failed = static_cast<int>(i);
      o.failed_step_name = std::string{line.name};
    }
  }
  o.outcome = run.outcome();
  o.has_value = run.has_value();
  if (!o.has_value) {
    o.failed_step = std::string{run.failed_step()};
    o.error = run.error();
    o.message = std::string{run.message()};
  }
  return o;
}

/// Exact comparison (inline executor): "" when the run matches the model, else what differs.
std::string compare_exact(const observed& o, const expected& e) {
  std::ostringstream d;
  if (o.calls != e.calls) d << "calls " << show(o.calls) << " != model " << show(e.calls) << '\n';
  if (o.undos != e.undos) d << "undos " << show(o.undos) << " != model " << show(e.undos) << '\n';
  if (o.status != e.status)
    d << "statuses " << show(o.status) << " != model " << show(e.status) << '\n';
  if (o.comp_error != e.comp_error) d << "compensation errors differ\n";
  if (o.outcome != e.outcome)
    d << "outcome " << static_cast<int>(o.outcome) << " != model " << static_cast<int>(e.outcome)
      << '\n';
  if (o.failed != e.failed) d << "failed step " << o.failed << " != model " << e.failed << '\n';
  if (o.has_value != (e.failed < 0)) d << "has_value " << o.has_value << '\n';
  if (e.failed >= 0) {
    if (o.failed_step != o.failed_step_name)
      d << "failed_step() " << o.failed_step << " != report " << o.failed_step_name << '\n';
    if (o.error != e.error) d << "error " << o.error.message() << " != model " << e.error.message() << '\n';
    if (o.message != e.message) d << "message '" << o.message << "' != model '" << e.message << "'\n";
  }
  return d.str();
}

// ---- order-free checks (thread pool) -----------------------------------------------------------

/// The top-level node each leaf belongs to, and its branch index when that node is a group.
struct placement {
  std::array<int, max_leaves> top{};
  std::array<int, max_leaves> branch{};
  placement() {
    top.fill(-1);
    branch.fill(-1);
  }
};
placement place(const mnode& wf) {
  placement p;
  for (std::size_t i = 0; i < wf.kids.size(); ++i) {
    for (int id : leaves_of(wf.kids[i])) p.top[static_cast<std::size_t>(id)] = static_cast<int>(i);
    if (wf.kids[i].kind == mnode::group) {
      for (std::size_t b = 0; b < wf.kids[i].kids.size(); ++b)
        for (int id : leaves_of(wf.kids[i].kids[b]))
          p.branch[static_cast<std::size_t>(id)] = static_cast<int>(b);
    }
  }
  return p;
}

/// Whether a branch completed, judged from the calls seen (every leaf it needs ran and none
/// failed). Only for branches without conditionals (the pool shapes' group branches).
bool completed(const mnode& n, const std::set<int>& called, const schedule& s) {
  switch (n.kind) {
    case mnode::leaf:
      return called.count(n.id) != 0 && !s.fail[static_cast<std::size_t>(n.id)];
    case mnode::seq:
      return std::all_of(n.kids.begin(), n.kids.end(),
                         [&](const mnode& k) { return completed(k, called, s); });
    case mnode::group:
      return std::all_of(n.kids.begin(), n.kids.end(), [&](const mnode& k) {
        return k.optional || completed(k, called, s);
      });
    default:
      return false;
  }
}

std::string compare_unordered(const observed& o, const expected& e, const mnode& wf,
                              const schedule& s) {
  std::ostringstream d;
  const placement p = place(wf);
  // Each leaf is called at most once (no retries here), and undone at most once.
  std::set<int> called;
  for (int id : o.calls)
    if (!called.insert(id).second) d << "leaf " << id << " called twice\n";
  std::set<int> undone;
  for (const auto& [id, v] : o.undos) {
    if (!undone.insert(id).second) d << "leaf " << id << " undone twice\n";
    if (v != 1000 + id) d << "leaf " << id << " undone with value " << v << '\n';
  }
  // Statuses and the failing node do not depend on the order of completion.
  if (o.status != e.status) d << "statuses " << show(o.status) << " != model " << show(e.status) << '\n';
  if (o.failed != e.failed) d << "failed step " << o.failed << " != model " << e.failed << '\n';
  if (o.comp_error != e.comp_error) d << "compensation errors differ\n";
  if (o.has_value != (e.failed < 0)) d << "has_value " << o.has_value << '\n';
  // Nodes other than the failing one ran exactly as in the model; nothing after it ran.
  for (std::size_t t = 0; t < wf.kids.size(); ++t) {
    if (static_cast<int>(t) == e.failed) continue;
    std::vector<int> seen;
    std::vector<int> want;
    for (int id : o.calls)
      if (p.top[static_cast<std::size_t>(id)] == static_cast<int>(t)) seen.push_back(id);
    for (int id : e.calls)
      if (p.top[static_cast<std::size_t>(id)] == static_cast<int>(t)) want.push_back(id);
    std::sort(seen.begin(), seen.end());
    std::sort(want.begin(), want.end());
    if (seen != want) d << "node " << t << " called " << show(seen) << ", model " << show(want) << '\n';
  }
  // Undone: exactly the completed compensable leaves when the run failed; when it succeeded,
  // everything ran as on the inline executor, and only failed optional nested workflows undid
  // their own steps: the model's set.
  std::set<int> want_undone;
  if (e.failed < 0) {
    for (const auto& u : e.undos) want_undone.insert(u.first);
  } else {
    for (int id : called) {
      const auto i = static_cast<std::size_t>(id);
      bool comp = false;
      std::vector<const mnode*> stack{&wf};
      while (!stack.empty()) {
        const mnode* n = stack.back();
        stack.pop_back();
        if (n->kind == mnode::leaf && n->id == id) comp = n->comp;
        for (const auto& k : n->kids) stack.push_back(&k);
      }
      if (comp && !s.fail[i]) want_undone.insert(id);
    }
  }
  if (undone != want_undone) {
    d << "undone {";
    for (int id : undone) d << ' ' << id;
    d << " } != expected {";
    for (int id : want_undone) d << ' ' << id;
    d << " }\n";
  }
  // Later nodes first: a failing group's own branches before the earlier steps.
  for (std::size_t k = 1; k < o.undos.size(); ++k) {
    const int a = p.top[static_cast<std::size_t>(o.undos[k - 1].first)];
    const int b = p.top[static_cast<std::size_t>(o.undos[k].first)];
    if (b > a) d << "undo of leaf " << o.undos[k].first << " (node " << b << ") after node " << a << '\n';
  }
  // The nodes before the failing one completed: their undos are sequential, as in the model.
  for (std::size_t t = 0; t < wf.kids.size(); ++t) {
    if (static_cast<int>(t) >= e.failed) continue;
    std::vector<std::pair<int, int>> seen;
    std::vector<std::pair<int, int>> want;
    for (const auto& u : o.undos)
      if (p.top[static_cast<std::size_t>(u.first)] == static_cast<int>(t)) seen.push_back(u);
    for (const auto& u : e.undos)
      if (p.top[static_cast<std::size_t>(u.first)] == static_cast<int>(t)) want.push_back(u);
    if (seen != want) d << "node " << t << " undone " << show(seen) << ", model " << show(want) << '\n';
  }
  // In the failing group, the branches that completed are undone in reverse branch order (after
  // any undo a failing nested workflow did of its own steps, on its own thread).
  if (e.failed >= 0 && wf.kids[static_cast<std::size_t>(e.failed)].kind == mnode::group) {
    const mnode& grp = wf.kids[static_cast<std::size_t>(e.failed)];
    int last = 1 << 20;
    for (const auto& [id, v] : o.undos) {
      const auto i = static_cast<std::size_t>(id);
      if (p.top[i] != e.failed) continue;
      const int b = p.branch[i];
      if (!completed(grp.kids[static_cast<std::size_t>(b)], called, s)) continue;
      if (b > last) d << "failing group: branch " << b << " undone after branch " << last << '\n';
      last = b;
    }
  }
  // The outcome: compensation_failed exactly when an undo failed; compensated when one ran.
  if (e.failed < 0) {
    if (o.outcome != tutti::run_outcome::succeeded) d << "outcome of a successful run\n";
  } else {
    const bool any_failed = std::any_of(o.undos.begin(), o.undos.end(), [&](const auto& u) {
      return s.comp_fail[static_cast<std::size_t>(u.first)];
    });
    const auto want = any_failed ? tutti::run_outcome::compensation_failed
                      : !o.undos.empty() ? tutti::run_outcome::compensated
                                         : o.outcome;  // failed, or compensated by a no-op group
    if (o.outcome != want ||
        (o.outcome != tutti::run_outcome::failed && o.outcome != tutti::run_outcome::compensated &&
         o.outcome != tutti::run_outcome::compensation_failed))
      d << "outcome " << static_cast<int>(o.outcome) << '\n';
    if (o.failed_step != o.failed_step_name) d << "failed_step() " << o.failed_step << '\n';
    // The error is one of the failures that could have decided.
    std::set<std::error_code> possible{make_error_code(tutti::errc::invalid_argument)};
    for (int id : called) {
      const auto i = static_cast<std::size_t>(id);
      if (s.fail[i])
        possible.insert(make_error_code(s.throws[i] ? tutti::errc::exception : tutti::errc::timeout));
    }
    if (possible.count(o.error) == 0) d << "error " << o.error.message() << '\n';
  }
  return d.str();
}

// ---- driving ---------------------------------------------------------------------------------

tutti::inline_executor inline_ex;

template <class Shape>
std::string check_inline(std::uint64_t seed, mutation m = mutation::none) {
  static const auto wf = Shape::make(inline_ex);
  static const mnode tree = Shape::tree();
  const schedule s = draw<Shape>(seed);
  return compare_exact(run_once(wf, s), predict(tree, s, m));
}

using inline_checker = std::string (*)(std::uint64_t, mutation);
const std::array<inline_checker, shape_count> inline_table{
    &check_inline<shape_a>, &check_inline<shape_b>, &check_inline<shape_c>,
    &check_inline<shape_d>, &check_inline<shape_e>};
const std::array<const char*, shape_count> labels{shape_a::label, shape_b::label, shape_c::label,
                                                  shape_d::label, shape_e::label};
template <class Shape>
std::string describe_seed(std::uint64_t seed) {
  return describe(draw<Shape>(seed), Shape::leaves);
}
const std::array<std::string (*)(std::uint64_t), shape_count> describers{
    &describe_seed<shape_a>, &describe_seed<shape_b>, &describe_seed<shape_c>,
    &describe_seed<shape_d>, &describe_seed<shape_e>};

void check_inline_seed(std::uint64_t seed) {
  const std::size_t shape = static_cast<std::size_t>(seed % shape_count);
  const std::string diff = inline_table[shape](seed, mutation::none);
  INFO("seed " << seed << " (TUTTI_SAGA_SEED=" << seed << "), shape " << labels[shape] << "\n"
               << describers[shape](seed) << "\n"
               << diff);
  REQUIRE(diff.empty());
}

template <class Shape, class Wf>
void check_pool_seed(const Wf& wf, const mnode& tree, std::uint64_t seed) {
  schedule s = draw<Shape>(seed);
  s.jitter = (seed & 1u) != 0;
  const std::string diff = compare_unordered(run_once(wf, s), predict(tree, s), tree, s);
  INFO("seed " << seed << " (TUTTI_SAGA_POOL_SEED=" << seed << "), shape " << Shape::label << "\n"
               << describe(s, Shape::leaves) << "\n"
               << diff);
  REQUIRE(diff.empty());
}

constexpr std::uint64_t base = 0x6a0f'0000ULL;

}  // namespace

TEST_CASE("random fault schedules keep the saga invariants through groups and branches",
          "[core][saga][random]") {
  if (const char* one = std::getenv("TUTTI_SAGA_SEED")) {
    check_inline_seed(std::strtoull(one, nullptr, 10));
    return;
  }
  constexpr int runs = 2'000 * static_cast<int>(shape_count);  // 2,000 per shape
  for (int i = 0; i < runs; ++i) check_inline_seed(base + static_cast<std::uint64_t>(i));
  SUCCEED("checked " << runs << " schedules");
}

TEST_CASE("on a thread pool, random fault schedules keep the order-free saga invariants",
          "[core][saga][random][parallel]") {
  tutti::thread_pool pool{4};
  const auto a = shape_a::make(pool);
  const auto b = shape_b::make(pool);
  const auto c = shape_c::make(pool);
  const auto d = shape_d::make(pool);
  const auto e = shape_e::make(pool);
  const mnode ta = shape_a::tree(), tb = shape_b::tree(), tc = shape_c::tree(),
              td = shape_d::tree(), te = shape_e::tree();
  auto one = [&](std::uint64_t seed) {
    switch (seed % shape_count) {
      case 0: check_pool_seed<shape_a>(a, ta, seed); break;
      case 1: check_pool_seed<shape_b>(b, tb, seed); break;
      case 2: check_pool_seed<shape_c>(c, tc, seed); break;
      case 3: check_pool_seed<shape_d>(d, td, seed); break;
      default: check_pool_seed<shape_e>(e, te, seed); break;
    }
  };
  if (const char* seed = std::getenv("TUTTI_SAGA_POOL_SEED")) {
    one(std::strtoull(seed, nullptr, 10));
    return;
  }
  constexpr int runs = 500 * static_cast<int>(shape_count);  // 500 per shape
  for (int i = 0; i < runs; ++i) one(base + static_cast<std::uint64_t>(i));
  SUCCEED("checked " << runs << " schedules on 4 threads");
}

TEST_CASE("the group model agrees with hand-worked cases", "[core][saga][random]") {
  const mnode a = shape_a::tree();
  SECTION("a later step fails: the group is undone at its position, in reverse branch order") {
    schedule s;
    s.fail[6] = true;
    s.go[0] = true;
    s.comp_fail[3] = true;  // reported; the others still run
    const auto e = predict(a, s);
    CHECK(e.calls == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    CHECK(e.undos == std::vector<std::pair<int, int>>{{5, 1005}, {4, 1004}, {3, 1003}, {1, 1001}, {0, 1000}});
    CHECK(e.outcome == tutti::run_outcome::compensation_failed);
    using st = tutti::step_status;
    CHECK(e.status == std::vector<st>{st::compensated, st::compensation_failed, st::compensated,
                                      st::compensated, st::failed});
    CHECK(e.comp_error[1] == tutti::errc::compensation_failed);
  }
  SECTION("a skipped when step is not compensated") {
    schedule s;
    s.fail[6] = true;
    const auto e = predict(a, s);
    CHECK(e.undos == std::vector<std::pair<int, int>>{{4, 1004}, {3, 1003}, {1, 1001}, {0, 1000}});
    CHECK(e.status[3] == tutti::step_status::skipped);
  }
  SECTION("a failing group undoes its own branches first; later branches never start") {
    const mnode b = shape_b::tree();
    schedule s;
    s.fail[2] = true;  // c fails after a and the optional b succeeded
    const auto e = predict(b, s);
    CHECK(e.calls == std::vector<int>{0, 1, 2});
    CHECK(e.undos == std::vector<std::pair<int, int>>{{1, 1001}, {0, 1000}});
    CHECK(e.status[0] == tutti::step_status::failed);
    CHECK(e.message == "s02: " + make_error_code(tutti::errc::timeout).message());
    s = schedule{};
    s.fail[0] = true;  // a fails: b and c do not start
    CHECK(predict(b, s).calls == std::vector<int>{0});
  }
  SECTION("an optional branch that failed neither fails the group nor is compensated") {
    const mnode b = shape_b::tree();
    schedule s;
    s.fail[1] = true;
    s.fail[6] = true;
    s.sel[0] = 1;
    const auto e = predict(b, s);
    CHECK(e.calls == std::vector<int>{0, 1, 2, 4, 6});
    CHECK(e.undos == std::vector<std::pair<int, int>>{{4, 1004}, {2, 1002}, {0, 1000}});
  }
}

TEST_CASE("a wrong model is caught by the comparison", "[core][saga][random]") {
  // Each deliberate mistake in the model must make some of the first 500 inline schedules
  // disagree with the library; otherwise the comparison (or the schedules) would be too weak.
  const std::array<mutation, 5> mutations{
      mutation::forward_branch_order, mutation::undo_failed_optional,
      mutation::earlier_steps_first, mutation::start_later_branches,
      mutation::stop_after_comp_failure};
  for (const mutation m : mutations) {
    int caught = 0;
    for (int i = 0; i < 500; ++i) {
      const auto seed = base + static_cast<std::uint64_t>(i);
      if (!inline_table[seed % shape_count](seed, m).empty()) ++caught;
    }
    INFO("mutation " << static_cast<int>(m));
    CHECK(caught > 0);
  }
}
