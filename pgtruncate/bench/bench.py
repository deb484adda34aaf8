#!/usr/bin/env python3
"""pgtruncate against the floor an operator would type, psql -c 'TRUNCATE ... RESTART
IDENTITY CASCADE', on fresh copies (CREATE DATABASE x TEMPLATE fixture) of three fixtures:
the Cornice schema at ~160 MB, 1,000 tables, one table with 500 partitions.

  eval "$(scripts/sandbox/pg.sh start)"; export $(scripts/sandbox/pg.sh ... | cut -d= -f1)
  cargo build --release -p pgtruncate
  python3 pgtruncate/bench/bench.py PGTRUNCATE_BINARY [RUNS]

Both tools connect the same way (Unix socket, as on the server itself), are timed from
process start to exit (what an operator waits for), and alternate run by run so drift
hits both alike. Also counts the statements pgtruncate sends (log_statement=all on its
session only) to show the catalogue work does not grow with the number of tables.
"""
import os
import re
import statistics
import subprocess
import sys
import time

BIN = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 11
SOCKET = os.environ["HOLD_PG_SOCKET"]
PORT = os.environ["HOLD_PG_PORT"]
USER = os.environ["HOLD_PG_USER"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOG = os.path.join(os.environ["HOLD_PG_DIR"], "server.log")


def conninfo(db):
    return f"host={SOCKET} port={PORT} user={USER} dbname={db}"


def psql(db, *args, quiet=True):
    cmd = ["psql", "-X", "-v", "ON_ERROR_STOP=1"] + (["-q"] if quiet else []) + list(args) + [conninfo(db)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def sql(db, text):
    return psql(db, "-Atc", text)


def make_cornice():
    sql("postgres", "DROP DATABASE IF EXISTS bench_cornice")
    sql("postgres", "CREATE DATABASE bench_cornice")
    psql("bench_cornice", "-v", "rows=26000", "-f", os.path.join(REPO, "scripts/sandbox/cornice.sql"))
    # Pad to ~160 MB (the fixture's hourly_prices covers three months, so rows <= 26000).
    sql("bench_cornice", "INSERT INTO market_snapshots (market_id, body) SELECT 1 + g % 12, "
        "jsonb_build_object('depth', repeat('d', 300)) FROM generate_series(1, 230000) g")
    sql("bench_cornice", "INSERT INTO agent_runs (agent, log) SELECT 'agent' || g % 3, "
        "repeat('log line ', 40) FROM generate_series(1, 40000) g")
    sql("bench_cornice", "VACUUM ANALYZE")


def make_many(n=1000):
    sql("postgres", "DROP DATABASE IF EXISTS bench_many")
    sql("postgres", "CREATE DATABASE bench_many")
    # Half parents, half children with a foreign key to a parent: a real closure to walk.
    stmts = []
    for i in range(n // 2):
        stmts.append(f"CREATE TABLE p{i:04} (id serial PRIMARY KEY, v text);"
                     f"INSERT INTO p{i:04} (v) SELECT 'x' FROM generate_series(1, 10);")
        stmts.append(f"CREATE TABLE c{i:04} (id serial PRIMARY KEY, p int REFERENCES p{i:04}(id));"
                     f"INSERT INTO c{i:04} (p) SELECT g FROM generate_series(1, 10) g;")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo("bench_many")],
                   input="\n".join(stmts) + "\nANALYZE;\n", check=True, capture_output=True, text=True)
    return [f"p{i:04}" for i in range(n // 2)] + [f"c{i:04}" for i in range(n // 2)]


def make_parts(n=500):
    sql("postgres", "DROP DATABASE IF EXISTS bench_parts")
    sql("postgres", "CREATE DATABASE bench_parts")
    stmts = ["CREATE TABLE ticks (id bigserial, day int NOT NULL, v text, PRIMARY KEY (day, id)) PARTITION BY RANGE (day);"]
    for i in range(n):
        stmts.append(f"CREATE TABLE ticks_{i:03} PARTITION OF ticks FOR VALUES FROM ({i}) TO ({i + 1});")
    stmts.append(f"INSERT INTO ticks (day, v) SELECT g % {n}, repeat('t', 50) FROM generate_series(1, {n * 20}) g;")
    stmts.append("ANALYZE;")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo("bench_parts")],
                   input="\n".join(stmts), check=True, capture_output=True, text=True)


def fresh(template):
    sql("postgres", "DROP DATABASE IF EXISTS bench_run")
    sql("postgres", f"CREATE DATABASE bench_run TEMPLATE {template}")
    sql("postgres", "CHECKPOINT")


def timed(cmd, env=None):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    return took


def statements_sent(pgt_args, template):
    """How many statements pgtruncate sends: log_statement=all on its session only."""
    fresh(template)
    with open(LOG) as f:
        f.seek(0, 2)
        start = f.tell()
    env = dict(os.environ, DATABASE_URL=conninfo("bench_run") + " options='-c log_statement=all'")
    subprocess.run([BIN, "--json=short", "-q"] + pgt_args, env=env, check=True, capture_output=True)
    time.sleep(0.3)
    with open(LOG) as f:
        f.seek(start)
        text = f.read()
    return len(re.findall(r"LOG:  (?:statement|execute [^:]*):", text))


def scenario(name, template, psql_tables, pgt_args):
    floor_sql = f"TRUNCATE {', '.join(psql_tables)} RESTART IDENTITY CASCADE"
    env = dict(os.environ, DATABASE_URL=conninfo("bench_run"))
    floor, ours = [], []
    for i in range(RUNS):
        order = [("psql", None), ("pgt", None)] if i % 2 == 0 else [("pgt", None), ("psql", None)]
        for who, _ in order:
            fresh(template)
            if who == "psql":
                floor.append(timed(["psql", "-X", "-q", "-c", floor_sql, conninfo("bench_run")]))
            else:
                ours.append(timed([BIN, "--json=short", "-q"] + pgt_args, env=env))
    mf, mo = statistics.median(floor), statistics.median(ours)
    count = statements_sent(pgt_args, template)
    print(f"{name:<28} psql median {mf * 1000:7.1f} ms   pgtruncate median {mo * 1000:7.1f} ms   "
          f"ratio {mo / mf:5.2f}   statements sent by pgtruncate: {count}", flush=True)


def main():
    make_cornice()
    size = sql("bench_cornice", "SELECT pg_size_pretty(pg_database_size(current_database()))").strip()
    runtime = ["execution_orders", "executions", "simulator_trades", "simulator_runs", "agent_findings",
               "agent_runs", "opportunity_observations", "hourly_prices", "market_snapshots",
               "orderbook_snapshots", "requests", "arb_go_signals", "arb_observations"]
    scenario(f"cornice preset ({size})", "bench_cornice", runtime, ["--preset", "cornice"])
    tables = make_many()
    scenario("1,000 tables", "bench_many", tables, tables)
    make_parts()
    scenario("500 partitions", "bench_parts", ["ticks"], ["ticks"])
    for db in ["bench_run", "bench_cornice", "bench_many", "bench_parts"]:
        sql("postgres", f"DROP DATABASE IF EXISTS {db}")


if __name__ == "__main__":
    main()
