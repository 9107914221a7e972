// What the [postgres] tests share: the server they were given (TUTTI_PG_CONNINFO, set by
// scripts/test after it started one) and a PostgreSQL schema of their own per test, dropped at
// the end. Test programs of tests/postgres/ run with tests/postgres/pg_main.cpp, which reports
// them skipped (exit 77) with the reason when there is no server.
#ifndef TUTTI_TESTS_POSTGRES_PG_SUPPORT_HPP
#define TUTTI_TESTS_POSTGRES_PG_SUPPORT_HPP

#include <tutti/context.hpp>
#include <tutti/journal/postgres.hpp>

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace pg_support {

inline std::string conninfo() {
  const char* c = std::getenv("TUTTI_PG_CONNINFO");
  return c != nullptr ? c : "";
}

/// Runs `sql` on a connection of its own; returns PostgreSQL's error text, empty on success.
inline std::string exec(const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo().c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

/// A fresh schema name, dropped (with everything in it) when this goes.
struct schema {
  std::string name;
  explicit schema(const std::string& prefix = "t") {
    const auto hex = tutti::run_id::generate().hex();
    name = prefix + "_" + std::to_string(::getpid()) + "_" + std::string(hex.data() + 24, 8);
  }
  schema(const schema&) = delete;
  schema& operator=(const schema&) = delete;
  ~schema() {
    (void)exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"" + name + "\" CASCADE");
  }
};

}  // namespace pg_support

#endif  // TUTTI_TESTS_POSTGRES_PG_SUPPORT_HPP
