// Tests that need a journal no crash of theirs would leave: a run copied from another journal,
// record by record, with some records left out.
#ifndef TUTTI_TESTS_SUPPORT_JOURNAL_COPY_HPP
#define TUTTI_TESTS_SUPPORT_JOURNAL_COPY_HPP

#include <tutti/journal/journal.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <utility>

namespace support {

/// Writes run `stored` into `j` as a run whose engine died: its start, then the records `keep`
/// accepts (in order; run_started and claimed are the start's own), then handed back, so that
/// any engine may resume it.
template <class J, class Keep>
void copy_run(J& j, const tutti::stored_run& stored, Keep keep) {
  const auto claim = j.start(stored.summary.id, stored.summary.workflow,
                             tutti::workflow_version{stored.summary.fingerprint, stored.summary.version},
                             stored.input, {"crashed#1"});
  REQUIRE(claim);
  for (const auto& r : stored.records) {
    if (r.kind == tutti::record_kind::run_started || r.kind == tutti::record_kind::claimed ||
        !keep(r))
      continue;
    tutti::record_view v = tutti::view_of(r);
    v.epoch = claim.value().epoch;
    REQUIRE(j.append(stored.summary.id, v));
  }
  REQUIRE(j.release(stored.summary.id, claim.value().epoch));
}

/// For copy_run: the records before group `group`'s end, but for those of its branch `left_out`
/// (a path, "group/branch").
inline auto before_end_of(std::string group, std::string left_out) {
  return [group = std::move(group), left_out = std::move(left_out),
          in_group = true](const tutti::stored_record& r) mutable {
    if (r.kind == tutti::record_kind::step_finished && r.step == group) in_group = false;
    return in_group && r.step != left_out;
  };
}

}  // namespace support

#endif  // TUTTI_TESTS_SUPPORT_JOURNAL_COPY_HPP
