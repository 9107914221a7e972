// tutti — the PostgreSQL journal's schema: its versions and the migrations between them.
// Included by <tutti/journal/postgres.hpp>; not a public header of its own.
#ifndef TUTTI_JOURNAL_POSTGRES_SCHEMA_HPP
#define TUTTI_JOURNAL_POSTGRES_SCHEMA_HPP

#include "../config.hpp"

TUTTI_BEGIN_NAMESPACE

/// The schema version this tutti writes in PostgreSQL. Older schemas are migrated on open (the
/// check, the creation and every step in one transaction, under an advisory lock, so replicas
/// starting together migrate once); newer ones are refused with `journal_errc::unknown_schema`.
inline constexpr int postgres_journal_schema_version = 4;

namespace detail {

/// One migration: the SQL that takes a schema from version `from` to `from + 1`. It runs with
/// `search_path` set to the journal's schema, inside the transaction of `open`'s schema check,
/// which also bumps `meta.schema_version`: all of it lands, or none.
struct pg_migration {
  int from;
  const char* sql;
};

/// Version 0 is the bootstrap: the `meta` table and nothing else.
inline constexpr const char* pg_bootstrap_sql =
    "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
    "INSERT INTO meta(key, value) VALUES ('schema_version', '0');";

// Conventions of the functions below, which are the journal's transactions: each is called as
// one statement (one round trip, one implicit transaction: no step ever runs inside it);
// `p_now` is NULL (the database's clock, `clock_timestamp()`) except in tests that pass a manual clock;
// errors are raised with SQLSTATEs of class TT that the C++ side maps to `journal_errc`:
//   TT404 run_not_found, TT409 not_resumable, TT410 run_exists, TT412 fenced, TT423 owned,
//   TT400 invalid_command, TT503 queue_full, TT500 corrupt (records diverged from their run).
// A raised error rolls the whole call back.
inline constexpr pg_migration pg_migrations[] = {
    {0, R"sql(
CREATE TABLE runs(
  run_id uuid PRIMARY KEY,
  workflow text NOT NULL,
  fingerprint bigint NOT NULL,
  status bigint NOT NULL,
  started_ms bigint NOT NULL,
  updated_ms bigint NOT NULL,
  last_seq bigint NOT NULL,
  owner text NOT NULL DEFAULT '',
  epoch bigint NOT NULL DEFAULT 0,
  lease_ms bigint NOT NULL DEFAULT 0,
  lease_until_ms bigint NOT NULL DEFAULT 0,
  recoveries bigint NOT NULL DEFAULT 0,
  dedup_key text,
  partition_key text NOT NULL DEFAULT '',
  exclusive boolean NOT NULL DEFAULT false,
  priority bigint NOT NULL DEFAULT 0,
  queue_seq bigint NOT NULL DEFAULT 0,
  queued_ms bigint NOT NULL DEFAULT 0,
  swept boolean NOT NULL DEFAULT false,
  CONSTRAINT unowned_has_no_lease CHECK (owner <> '' OR lease_until_ms = 0)
) WITH (fillfactor = 80);
-- An append sets last_seq, updated_ms and lease_until_ms, none of them indexed: the row is
-- updated in place (a HOT update) and no index is written.
CREATE UNIQUE INDEX runs_by_dedup ON runs(workflow, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX runs_queued ON runs(workflow, priority DESC, queue_seq) WHERE status = 8;
CREATE INDEX runs_by_partition ON runs(workflow, partition_key, queue_seq)
  WHERE partition_key <> '';
CREATE INDEX runs_running ON runs(workflow) WHERE status = 1;
CREATE INDEX runs_by_start ON runs(started_ms DESC, run_id);
CREATE TABLE records(
  run_id uuid NOT NULL,
  seq bigint NOT NULL,
  kind bigint NOT NULL,
  step text NOT NULL DEFAULT '',
  attempt bigint NOT NULL DEFAULT 0,
  ok boolean NOT NULL DEFAULT false,
  outcome bigint NOT NULL DEFAULT 0,
  payload bytea,
  error_category text NOT NULL DEFAULT '',
  error_value bigint NOT NULL DEFAULT 0,
  message bytea,
  time_ns bigint NOT NULL DEFAULT 0,
  unix_ms bigint NOT NULL,
  epoch bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, seq)
);
CREATE SEQUENCE queue_seq;

)sql"},
    // 1 → 2: workflow versions (tutti::versioned); runs of older schemas are version 1.
    {1, R"sql(
ALTER TABLE runs ADD COLUMN version bigint NOT NULL DEFAULT 1;
)sql"},
    // 2 → 3: search. A run's business key (tutti::keyed) and the failure it ended on (the step
    // a failed run's run_finished names, with the run's error), each indexed in start order.
    // Runs of older schemas have no key, and their run_finished records name no step: for each
    // run that ended failed, the first failed step_finished after its last retry stands for it.
    {2, R"sql(
ALTER TABLE runs ADD COLUMN run_key text;
ALTER TABLE runs ADD COLUMN failed_step text;
ALTER TABLE runs ADD COLUMN error_category text;
ALTER TABLE runs ADD COLUMN error_value bigint;
UPDATE runs SET (failed_step, error_category, error_value) =
  (SELECT c.step, c.error_category, c.error_value FROM records c
    WHERE c.run_id = runs.run_id AND c.kind = 4 AND NOT c.ok
      AND c.seq > coalesce((SELECT max(t.seq) FROM records t
                             WHERE t.run_id = runs.run_id AND t.kind = 10), 0)
    ORDER BY c.seq LIMIT 1)
 WHERE status IN (4, 5, 6, 7) AND EXISTS (SELECT 1 FROM records f
   WHERE f.run_id = runs.run_id AND f.kind = 7 AND f.outcome <> 0);
CREATE INDEX runs_by_key ON runs(run_key, started_ms DESC, run_id) WHERE run_key IS NOT NULL;
CREATE INDEX runs_by_failed_step ON runs(failed_step, started_ms DESC, run_id)
  WHERE failed_step IS NOT NULL;
CREATE INDEX runs_by_error ON runs(error_category, error_value, started_ms DESC, run_id)
  WHERE error_category IS NOT NULL;
)sql"},
    // 3 → 4: payload encodings. A run_started or step_finished record's `outcome` says how its
    // payload is written (0 binary, 1 JSON); older records are all binary (0), so no row
    // changes. start_run and submit_run take the input's encoding (recreated after this step).
    {3, R"sql(
COMMENT ON COLUMN records.outcome IS
  'run_finished: the run_outcome; run_started and step_finished: the payload encoding (0 binary, 1 JSON)';
)sql"},
};

/**
 * The journal's functions (its transactions) for the newest schema. They are code, not data:
 * after any migration, every one of them is dropped and created anew, in the same transaction
 * (`pg_drop_functions_sql`, then this), so a schema always has the functions of the tutti that
 * migrated it last.
 */
inline constexpr const char* pg_functions_sql = R"sql(
-- The database's clock (clock_timestamp(): the moment of the call, not of its transaction's
-- start, so that a claim that waited for a row lock grants its lease from when it got it).
CREATE FUNCTION now_ms(p_now bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT coalesce(p_now, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) $$;
CREATE FUNCTION id_text(p_id uuid) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT replace(p_id::text, '-', '') $$;
CREATE FUNCTION ended(s bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT s NOT IN (1, 2, 8) $$;
CREATE FUNCTION status_name(s bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE s WHEN 1 THEN 'running' WHEN 2 THEN 'paused' WHEN 3 THEN 'succeeded'
    WHEN 4 THEN 'failed' WHEN 5 THEN 'compensated' WHEN 6 THEN 'compensation_failed'
    WHEN 7 THEN 'resolved' WHEN 8 THEN 'queued' WHEN 9 THEN 'dead_lettered' ELSE 'unknown' END $$;
CREATE FUNCTION record_kind_name(k bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE k WHEN 1 THEN 'run_started' WHEN 2 THEN 'attempt_started'
    WHEN 3 THEN 'attempt_finished' WHEN 4 THEN 'step_finished' WHEN 5 THEN 'compensation_started'
    WHEN 6 THEN 'compensation_finished' WHEN 7 THEN 'run_finished' WHEN 8 THEN 'paused'
    WHEN 9 THEN 'unpaused' WHEN 10 THEN 'retry_requested' WHEN 11 THEN 'redrive_requested'
    WHEN 12 THEN 'resolved' WHEN 13 THEN 'claimed' WHEN 14 THEN 'released'
    WHEN 15 THEN 'dead_lettered' WHEN 16 THEN 'revived' WHEN 17 THEN 'moved'
    WHEN 18 THEN 'rerun_of' WHEN 19 THEN 'rerun_as' ELSE 'unknown' END $$;
-- Whether a claim by p_owner (reclaiming a dead incarnation's runs by the prefix p_reclaim)
-- may take a run held by `owner` until `until`: tutti::claimable.
CREATE FUNCTION claimable(owner text, until bigint, v_now bigint, p_owner text, p_reclaim text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT owner = '' OR until <= v_now OR
         (p_reclaim <> '' AND owner <> p_owner AND left(owner, length(p_reclaim)) = p_reclaim) $$;

-- A run's failure after a record (tutti::failure_change_of): a run_finished (7) of a failed run
-- that names its step sets the step and the error; any other run_finished, and a retry (10),
-- clear them; other records keep what stands.
CREATE FUNCTION failure_sets(k bigint, o bigint, st text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT k = 7 AND o <> 0 AND st <> '' $$;
CREATE FUNCTION failure_clears(k bigint, o bigint, st text) RETURNS boolean LANGUAGE sql IMMUTABLE AS
$$ SELECT k = 10 OR (k = 7 AND NOT (o <> 0 AND st <> '')) $$;
CREATE FUNCTION failure_step(k bigint, o bigint, st text, was text) RETURNS text LANGUAGE sql
IMMUTABLE AS $$ SELECT CASE WHEN failure_sets(k, o, st) THEN st
                            WHEN failure_clears(k, o, st) THEN NULL ELSE was END $$;
CREATE FUNCTION failure_category(k bigint, o bigint, st text, cat text, was text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN failure_sets(k, o, st) THEN cat
                                         WHEN failure_clears(k, o, st) THEN NULL ELSE was END $$;
CREATE FUNCTION failure_value(k bigint, o bigint, st text, val bigint, was bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN failure_sets(k, o, st) THEN val
                                         WHEN failure_clears(k, o, st) THEN NULL ELSE was END $$;

-- A record written once: a second record with the same (run, seq) is a divergence, reported,
-- never an overwrite.
CREATE FUNCTION add_record(p_id uuid, p_seq bigint, p_kind bigint, p_step text, p_attempt bigint,
    p_ok boolean, p_outcome bigint, p_payload bytea, p_cat text, p_val bigint, p_msg bytea,
    p_time_ns bigint, v_now bigint, p_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO records(run_id, seq, kind, step, attempt, ok, outcome, payload, error_category,
                      error_value, message, time_ns, unix_ms, epoch)
  VALUES (p_id, p_seq, p_kind, p_step, p_attempt, p_ok, p_outcome, p_payload, p_cat, p_val,
          p_msg, p_time_ns, v_now, p_epoch)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % already has a record % (%): its records diverged from its row; '
      'nothing was overwritten', id_text(p_id), p_seq, record_kind_name(p_kind)
      USING ERRCODE = 'TT500';
  END IF;
END $$;

-- Why a fenced write (epoch p_epoch) of run p_id was refused: raised as TT412 (or TT404).
CREATE FUNCTION raise_fenced(p_id uuid, p_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r runs;
BEGIN
  SELECT * INTO r FROM runs WHERE run_id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no run %', id_text(p_id) USING ERRCODE = 'TT404';
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'TT412', MESSAGE = format(
    'run %s refused a write of epoch %s: it is at epoch %s and %s%s', id_text(p_id), p_epoch,
    r.epoch, status_name(r.status),
    CASE WHEN r.owner = '' THEN '' ELSE format(', held by ''%s''', r.owner) END);
END $$;

-- Claims row r (locked by the caller): a new epoch, owner and lease, a `claimed` record.
CREATE FUNCTION take_run(r runs, p_owner text, p_lease_ms bigint, v_now bigint)
RETURNS TABLE(o_run_id uuid, o_workflow text, o_epoch bigint, o_lease_until bigint,
              o_takeover boolean, o_from_queue boolean, o_recoveries bigint, o_queued_ms bigint,
              o_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
  -- A takeover: of an expired lease, or of a run the sweep returned to the queue (the sweep
  -- counted the recovery).
  v_takeover boolean := r.owner <> '' OR r.swept;
  v_queued boolean := r.status = 8;
  v_rec bigint := r.recoveries + CASE WHEN r.owner <> '' THEN 1 ELSE 0 END;
  v_epoch bigint := r.epoch + 1;
  v_seq bigint;
BEGIN
  UPDATE runs SET epoch = v_epoch, owner = p_owner, lease_ms = p_lease_ms,
                  lease_until_ms = v_now + p_lease_ms, recoveries = v_rec,
                  status = CASE WHEN status = 8 THEN 1 ELSE status END, swept = false,
                  last_seq = last_seq + 1, updated_ms = v_now
   WHERE run_id = r.run_id AND epoch = r.epoch
  RETURNING last_seq INTO v_seq;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % moved on while it was claimed', id_text(r.run_id)
      USING ERRCODE = 'TT500';
  END IF;
  PERFORM add_record(r.run_id, v_seq, 13, '', 0, v_takeover, 0, NULL, '', 0,
                     convert_to(p_owner, 'UTF8'), 0, v_now, v_epoch);
  RETURN QUERY SELECT r.run_id, r.workflow, v_epoch, v_now + p_lease_ms, v_takeover, v_queued,
                      v_rec, CASE WHEN v_queued THEN v_now - r.queued_ms ELSE 0::bigint END,
                      r.version;
END $$;

-- A new run: its row and run_started record; claimed by p_owner unless it is NULL.
CREATE FUNCTION start_run(p_id uuid, p_wf text, p_fp bigint, p_input bytea, p_owner text,
    p_lease_ms bigint, p_now bigint, p_version bigint, p_key text, p_encoding bigint DEFAULT 0,
    p_paused boolean DEFAULT false)
RETURNS TABLE(o_run_id uuid, o_workflow text, o_epoch bigint, o_lease_until bigint,
              o_takeover boolean, o_from_queue boolean, o_recoveries bigint, o_queued_ms bigint,
              o_version bigint)
LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); r runs; v_seq bigint; v_epoch bigint;
BEGIN
  BEGIN
    INSERT INTO runs(run_id, workflow, fingerprint, status, started_ms, updated_ms, last_seq,
                     version, run_key)
    VALUES (p_id, p_wf, p_fp, 1, v_now, v_now, 1, p_version, p_key) RETURNING * INTO r;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'run % already exists', id_text(p_id) USING ERRCODE = 'TT410';
  END;
  PERFORM add_record(p_id, 1, 1, '', 0, false, p_encoding, p_input, '', 0, NULL, 0, v_now, 0);
  IF p_owner IS NOT NULL THEN
    RETURN QUERY SELECT * FROM take_run(r, p_owner, p_lease_ms, v_now);
    IF p_paused THEN  -- begins paused: no engine runs it until an unpause
      UPDATE runs SET status = 2, last_seq = last_seq + 1 WHERE run_id = p_id
      RETURNING last_seq, epoch INTO v_seq, v_epoch;
      PERFORM add_record(p_id, v_seq, 8, '', 0, true, 0, NULL, '', 0, NULL, 0, v_now, v_epoch);
    END IF;
  END IF;
END $$;

-- A queued run (or the run an earlier submit with the same dedup key made).
CREATE FUNCTION submit_run(p_id uuid, p_wf text, p_fp bigint, p_input bytea, p_dedup text,
    p_partition text, p_exclusive boolean, p_priority bigint, p_max_queued bigint, p_now bigint,
    p_version bigint, p_key text, p_encoding bigint DEFAULT 0)
RETURNS TABLE(o_run_id uuid, o_created boolean) LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); v_id uuid; v_depth bigint;
BEGIN
  IF p_dedup IS NOT NULL THEN
    SELECT run_id INTO v_id FROM runs WHERE workflow = p_wf AND dedup_key = p_dedup;
    IF FOUND THEN RETURN QUERY SELECT v_id, false; RETURN; END IF;
  END IF;
  IF p_max_queued > 0 THEN
    -- Submissions wait for each other only when the queue is bounded.
    PERFORM pg_advisory_xact_lock(hashtextextended('tutti.queue:' || current_schema(), 0));
    SELECT count(*) INTO v_depth FROM runs WHERE status = 8;
    IF v_depth >= p_max_queued THEN
      RAISE EXCEPTION 'the queue holds % runs, its maximum (postgres_options::max_queued): the '
        'request was not recorded', v_depth USING ERRCODE = 'TT503';
    END IF;
  END IF;
  BEGIN
    INSERT INTO runs(run_id, workflow, fingerprint, status, started_ms, updated_ms, last_seq,
                     dedup_key, partition_key, exclusive, priority, queue_seq, queued_ms, version,
                     run_key)
    VALUES (p_id, p_wf, p_fp, 8, v_now, v_now, 1, p_dedup, p_partition,
            p_exclusive AND p_partition <> '', p_priority, nextval('queue_seq'), v_now, p_version,
            p_key);
  EXCEPTION WHEN unique_violation THEN
    -- A concurrent submit with the same dedup key won (or the id is taken).
    SELECT run_id INTO v_id FROM runs WHERE workflow = p_wf AND dedup_key = p_dedup;
    IF FOUND THEN RETURN QUERY SELECT v_id, false; RETURN; END IF;
    RAISE EXCEPTION 'run % already exists', id_text(p_id) USING ERRCODE = 'TT410';
  END;
  PERFORM add_record(p_id, 1, 1, '', 0, false, p_encoding, p_input, '', 0, NULL, 0, v_now, 0);
  RETURN QUERY SELECT p_id, true;
END $$;

-- Claims run p_id: TT404, TT409 (ended or paused), TT423 (held by a live lease).
CREATE FUNCTION claim_run(p_id uuid, p_owner text, p_lease_ms bigint, p_reclaim text,
    p_lock_timeout text, p_now bigint)
RETURNS TABLE(o_run_id uuid, o_workflow text, o_epoch bigint, o_lease_until bigint,
              o_takeover boolean, o_from_queue boolean, o_recoveries bigint, o_queued_ms bigint,
              o_version bigint)
LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); r runs;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  SELECT * INTO r FROM runs WHERE run_id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no run %', id_text(p_id) USING ERRCODE = 'TT404';
  END IF;
  v_now := now_ms(p_now);  -- after the lock: the lease is judged, and granted, from now
  IF r.status NOT IN (1, 8) THEN
    RAISE EXCEPTION 'run % is %: nothing to claim', id_text(p_id), status_name(r.status)
      USING ERRCODE = 'TT409';
  END IF;
  IF NOT claimable(r.owner, r.lease_until_ms, v_now, p_owner, p_reclaim) THEN
    RAISE EXCEPTION 'run % is held by ''%'' for % ms more', id_text(p_id), r.owner,
      r.lease_until_ms - v_now USING ERRCODE = 'TT423';
  END IF;
  RETURN QUERY SELECT * FROM take_run(r, p_owner, p_lease_ms, v_now);
END $$;

-- Claims up to p_max runs of workflow p_wf (of a version up to p_max_version, 0: any): running
-- ones nobody holds (expired leases first), then a dead incarnation's (p_reclaim), then queued
-- ones by priority and submission order, a partition's oldest first, an exclusive partition's
-- only while none of it runs. Rows another replica is claiming are skipped (SKIP LOCKED), never
-- waited for.
CREATE FUNCTION claim_next(p_wf text, p_max bigint, p_owner text, p_lease_ms bigint,
    p_reclaim text, p_lock_timeout text, p_now bigint, p_max_version bigint)
RETURNS TABLE(o_run_id uuid, o_workflow text, o_epoch bigint, o_lease_until bigint,
              o_takeover boolean, o_from_queue boolean, o_recoveries bigint, o_queued_ms bigint,
              o_version bigint)
LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); r runs; n bigint := 0; v_skip uuid[] := '{}';
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  FOR r IN SELECT * FROM runs WHERE status = 1 AND workflow = p_wf AND lease_until_ms <= v_now
           AND (p_max_version = 0 OR version <= p_max_version)
           ORDER BY lease_until_ms LIMIT p_max FOR UPDATE SKIP LOCKED LOOP
    RETURN QUERY SELECT * FROM take_run(r, p_owner, p_lease_ms, v_now);
    n := n + 1;
  END LOOP;
  IF p_reclaim <> '' AND n < p_max THEN
    FOR r IN SELECT * FROM runs WHERE status = 1 AND workflow = p_wf AND lease_until_ms > v_now
             AND left(owner, length(p_reclaim)) = p_reclaim AND owner <> p_owner
             AND (p_max_version = 0 OR version <= p_max_version)
             LIMIT p_max - n FOR UPDATE SKIP LOCKED LOOP
      RETURN QUERY SELECT * FROM take_run(r, p_owner, p_lease_ms, v_now);
      n := n + 1;
    END LOOP;
  END IF;
  WHILE n < p_max LOOP
    SELECT * INTO r FROM runs c WHERE c.status = 8 AND c.workflow = p_wf
       AND c.run_id <> ALL (v_skip) AND (p_max_version = 0 OR c.version <= p_max_version)
       AND (c.partition_key = '' OR (
             NOT EXISTS (SELECT 1 FROM runs p WHERE p.workflow = c.workflow
                         AND p.partition_key = c.partition_key AND p.status = 8
                         AND p.queue_seq < c.queue_seq)
             AND (NOT c.exclusive OR NOT EXISTS (
                   SELECT 1 FROM runs p WHERE p.workflow = c.workflow
                   AND p.partition_key = c.partition_key AND p.status IN (1, 2)))))
     ORDER BY c.priority DESC, c.queue_seq LIMIT 1 FOR UPDATE SKIP LOCKED;
    EXIT WHEN NOT FOUND;
    IF r.exclusive THEN
      -- Two replicas must not start two runs of an exclusive partition: claims of one
      -- partition take turns, and each looks again, with a fresh snapshot, once it has its turn.
      PERFORM pg_advisory_xact_lock(
        hashtextextended('tutti.partition:' || current_schema() || ':' || r.workflow || ':' ||
                         r.partition_key, 0));
      IF EXISTS (SELECT 1 FROM runs p WHERE p.workflow = r.workflow
                 AND p.partition_key = r.partition_key AND p.run_id <> r.run_id
                 AND (p.status IN (1, 2) OR (p.status = 8 AND p.queue_seq < r.queue_seq)))
         OR NOT EXISTS (SELECT 1 FROM runs p WHERE p.run_id = r.run_id AND p.status = 8) THEN
        v_skip := v_skip || r.run_id;
        CONTINUE;
      END IF;
    END IF;
    RETURN QUERY SELECT * FROM take_run(r, p_owner, p_lease_ms, v_now);
    n := n + 1;
  END LOOP;
END $$;

-- One record of the engine holding epoch p_epoch (fenced: TT412 unless it is the run's epoch
-- and the run has not ended); the run's row (record count, status, lease) in the same call.
-- p_status: the status the record leaves (NULL: unchanged); p_moved_on: a step or compensation
-- finished (earlier takeovers were no failed recovery).
CREATE FUNCTION append_record(p_id uuid, p_epoch bigint, p_kind bigint, p_step text,
    p_attempt bigint, p_ok boolean, p_outcome bigint, p_payload bytea, p_cat text, p_val bigint,
    p_msg bytea, p_time_ns bigint, p_status bigint, p_moved_on boolean, p_now bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); v_seq bigint;
BEGIN
  UPDATE runs SET last_seq = last_seq + 1,
      status = coalesce(p_status, status),
      recoveries = CASE WHEN p_moved_on THEN 0 ELSE recoveries END,
      owner = CASE WHEN ended(coalesce(p_status, status)) THEN '' ELSE owner END,
      lease_until_ms = CASE WHEN owner = '' OR ended(coalesce(p_status, status)) THEN 0
                            ELSE v_now + lease_ms END,
      -- The run's failure (failure_step and friends, below): unchanged values keep the update
      -- in place (HOT); only a run's end (or a retry) writes the search indexes.
      failed_step = failure_step(p_kind, p_outcome, p_step, failed_step),
      error_category = failure_category(p_kind, p_outcome, p_step, p_cat, error_category),
      error_value = failure_value(p_kind, p_outcome, p_step, p_val, error_value),
      updated_ms = v_now
   WHERE run_id = p_id AND epoch = p_epoch AND NOT ended(status)
  RETURNING last_seq INTO v_seq;
  IF NOT FOUND THEN PERFORM raise_fenced(p_id, p_epoch); END IF;
  INSERT INTO records(run_id, seq, kind, step, attempt, ok, outcome, payload, error_category,
                      error_value, message, time_ns, unix_ms, epoch)
  VALUES (p_id, v_seq, p_kind, p_step, p_attempt, p_ok, p_outcome, p_payload, p_cat, p_val,
          p_msg, p_time_ns, v_now, p_epoch)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % already has a record % (%): its records diverged from its row; '
      'nothing was overwritten', id_text(p_id), v_seq, record_kind_name(p_kind)
      USING ERRCODE = 'TT500';
  END IF;
  RETURN v_seq;
END $$;

-- The lease of the holder of p_epoch again from now (fenced once the run was released).
CREATE FUNCTION renew_lease(p_id uuid, p_epoch bigint, p_now bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); v_until bigint;
BEGIN
  UPDATE runs SET lease_until_ms = v_now + lease_ms
   WHERE run_id = p_id AND epoch = p_epoch AND NOT ended(status) AND owner <> ''
  RETURNING lease_until_ms INTO v_until;
  IF NOT FOUND THEN PERFORM raise_fenced(p_id, p_epoch); END IF;
  RETURN v_until;
END $$;

-- Hands the run back unowned, where it stands: a `released` record.
CREATE FUNCTION release_run(p_id uuid, p_epoch bigint, p_now bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); v_owner text; v_seq bigint;
BEGIN
  SELECT owner INTO v_owner FROM runs
   WHERE run_id = p_id AND epoch = p_epoch AND NOT ended(status) FOR UPDATE;
  IF NOT FOUND THEN PERFORM raise_fenced(p_id, p_epoch); END IF;
  UPDATE runs SET owner = '', lease_until_ms = 0, last_seq = last_seq + 1, updated_ms = v_now
   WHERE run_id = p_id AND epoch = p_epoch
  RETURNING last_seq INTO v_seq;
  IF NOT FOUND THEN PERFORM raise_fenced(p_id, p_epoch); END IF;
  PERFORM add_record(p_id, v_seq, 14, '', 0, false, 0, NULL, '', 0,
                     convert_to(v_owner, 'UTF8'), 0, v_now, p_epoch);
END $$;

-- An operator's record, written only if the run's status is one of p_allowed (else TT400);
-- p_fence raises the epoch and clears the owner; `moved` (17) sets the run's version to
-- p_attempt and revives a dead-lettered run; `rerun_as` (19) resolves a failed,
-- compensation_failed or dead-lettered run. Returns the status after it.
CREATE FUNCTION run_command(p_id uuid, p_kind bigint, p_step text, p_attempt bigint,
    p_ok boolean, p_outcome bigint, p_payload bytea, p_cat text, p_val bigint, p_msg bytea,
    p_time_ns bigint, p_status bigint, p_allowed bigint[], p_fence boolean,
    p_lock_timeout text, p_now bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); r runs; v_status bigint; v_epoch bigint; v_seq bigint;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  SELECT * INTO r FROM runs WHERE run_id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no run %', id_text(p_id) USING ERRCODE = 'TT404';
  END IF;
  IF NOT (r.status = ANY (p_allowed)) THEN
    RAISE EXCEPTION 'run % is %: % does not apply', id_text(p_id), status_name(r.status),
      record_kind_name(p_kind) USING ERRCODE = 'TT400';
  END IF;
  v_status := CASE WHEN p_kind = 17 AND r.status = 9 THEN 1
                   WHEN p_kind = 19 AND r.status IN (4, 6, 9) THEN 7  -- settled by its rerun
                   ELSE coalesce(p_status, r.status) END;
  v_epoch := r.epoch + CASE WHEN p_fence THEN 1 ELSE 0 END;
  UPDATE runs SET epoch = v_epoch, status = v_status,
      owner = CASE WHEN p_fence OR ended(v_status) THEN '' ELSE owner END,
      lease_until_ms = CASE WHEN p_fence OR ended(v_status) THEN 0 ELSE lease_until_ms END,
      recoveries = CASE WHEN r.status = 9 AND v_status = 1 THEN 0 ELSE recoveries END,
      version = CASE WHEN p_kind = 17 THEN p_attempt ELSE version END,
      failed_step = failure_step(p_kind, p_outcome, p_step, failed_step),
      error_category = failure_category(p_kind, p_outcome, p_step, p_cat, error_category),
      error_value = failure_value(p_kind, p_outcome, p_step, p_val, error_value),
      swept = swept AND NOT p_fence,
      last_seq = last_seq + 1, updated_ms = v_now
   WHERE run_id = p_id
  RETURNING last_seq INTO v_seq;
  PERFORM add_record(p_id, v_seq, p_kind, p_step, p_attempt, p_ok, p_outcome, p_payload, p_cat,
                     p_val, p_msg, p_time_ns, v_now, v_epoch);
  RETURN v_status;
END $$;

-- Returns up to p_limit running runs whose leases expired to the claimable set (they stay
-- `running`, unowned): a new epoch (their zombie engines are fenced at once), a `released`
-- record (ok: a takeover), one more recovery, and `swept` (the next claim is a takeover). Any replica may run it; a row another transaction holds is skipped, and the
-- epoch it was read with must still be the row's (a stale read never undoes a newer claim).
CREATE FUNCTION sweep_expired(p_limit bigint, p_by text, p_lock_timeout text, p_now bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_now bigint := now_ms(p_now); r runs; n bigint := 0; v_seq bigint;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_timeout, true);
  FOR r IN SELECT * FROM runs WHERE status = 1 AND owner <> '' AND lease_until_ms <= v_now
           ORDER BY lease_until_ms LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    UPDATE runs SET epoch = r.epoch + 1, owner = '', lease_until_ms = 0, swept = true,
                    recoveries = recoveries + 1, last_seq = last_seq + 1, updated_ms = v_now
     WHERE run_id = r.run_id AND epoch = r.epoch AND lease_until_ms <= v_now AND status = 1
    RETURNING last_seq INTO v_seq;
    CONTINUE WHEN NOT FOUND;
    PERFORM add_record(r.run_id, v_seq, 14, '', 0, true, 0, NULL, '', 0,
                       convert_to(format('lease of ''%s'' expired; returned to the queue by ''%s''',
                                         r.owner, p_by), 'UTF8'), 0, v_now, r.epoch + 1);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- Deletes up to p_limit ended runs last written before p_before_ms, with their records.
CREATE FUNCTION purge_ended(p_before_ms bigint, p_limit bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_ids uuid[]; n bigint;
BEGIN
  SELECT array_agg(run_id) INTO v_ids FROM (
    SELECT run_id FROM runs WHERE status NOT IN (1, 2, 8) AND updated_ms < p_before_ms
    LIMIT p_limit FOR UPDATE SKIP LOCKED) v;
  IF v_ids IS NULL THEN RETURN 0; END IF;
  DELETE FROM records WHERE run_id = ANY (v_ids);
  DELETE FROM runs WHERE run_id = ANY (v_ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
)sql";

/// Drops the functions of any earlier tutti (names only: each name is one function).
inline constexpr const char* pg_drop_functions_sql =
    "DROP FUNCTION IF EXISTS now_ms, id_text, ended, status_name, record_kind_name, claimable, "
    "add_record, raise_fenced, take_run, start_run, submit_run, claim_run, claim_next, "
    "append_record, renew_lease, release_run, run_command, sweep_expired, purge_ended, "
    "failure_sets, failure_clears, failure_step, failure_category, failure_value;";


}  // namespace detail

TUTTI_END_NAMESPACE

#endif  // TUTTI_JOURNAL_POSTGRES_SCHEMA_HPP
