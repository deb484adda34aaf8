-- A Cornice-like schema with data: the tables the hibernate runbook names, with the
-- foreign keys a real app has (runtime rows point at users, markets and catalogs; nothing
-- kept points at runtime rows), hourly_prices partitioned by month, and the migration
-- bookkeeping. Used by the tests, the demo and the benchmarks.
--
--   psql -v rows=2000 -f cornice.sql DBNAME      (rows per runtime table; default 2000)
\set ON_ERROR_STOP on
\if :{?rows}
\else
  \set rows 2000
\endif

CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('4f2a9c1d7e10');

-- auth
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE user_profiles (user_id int PRIMARY KEY REFERENCES users(id), display_name text);
CREATE TABLE user_secrets (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), name text NOT NULL, ciphertext bytea NOT NULL);

-- catalogs
CREATE TABLE global_markets (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE markets (id serial PRIMARY KEY, global_market_id int REFERENCES global_markets(id), venue text NOT NULL, symbol text NOT NULL);
CREATE TABLE market_links (id serial PRIMARY KEY, market_id int NOT NULL REFERENCES markets(id), linked_market_id int NOT NULL REFERENCES markets(id));
CREATE TABLE arb_monitor_profiles (id serial PRIMARY KEY, user_id int REFERENCES users(id), name text NOT NULL);
CREATE TABLE arb_opportunity_instances (id serial PRIMARY KEY, profile_id int REFERENCES arb_monitor_profiles(id), label text);
CREATE TABLE arb_opportunity_legs (id serial PRIMARY KEY, instance_id int NOT NULL REFERENCES arb_opportunity_instances(id), market_id int NOT NULL REFERENCES markets(id), side text NOT NULL);

-- opportunities
CREATE TABLE opportunities (id serial PRIMARY KEY, market_id int REFERENCES markets(id), title text NOT NULL);

-- runtime
CREATE TABLE execution_orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), market_id int REFERENCES markets(id), qty numeric NOT NULL, payload jsonb);
CREATE TABLE executions (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES execution_orders(id), price numeric NOT NULL, executed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE simulator_runs (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), started_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE simulator_trades (id bigserial PRIMARY KEY, run_id bigint NOT NULL REFERENCES simulator_runs(id), pnl numeric);
CREATE TABLE agent_runs (id bigserial PRIMARY KEY, agent text NOT NULL, log text);
CREATE TABLE agent_findings (id bigserial PRIMARY KEY, run_id bigint NOT NULL REFERENCES agent_runs(id), finding text);
CREATE TABLE opportunity_observations (id bigserial PRIMARY KEY, opportunity_id int REFERENCES opportunities(id), observed_at timestamptz NOT NULL DEFAULT now(), edge numeric);
CREATE TABLE hourly_prices (market_id int NOT NULL REFERENCES markets(id), ts timestamptz NOT NULL, price numeric NOT NULL, PRIMARY KEY (market_id, ts)) PARTITION BY RANGE (ts);
CREATE TABLE hourly_prices_2026_09 PARTITION OF hourly_prices FOR VALUES FROM ('2026-09-01') TO ('2026-10-01');
CREATE TABLE hourly_prices_2026_10 PARTITION OF hourly_prices FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
CREATE TABLE hourly_prices_2026_11 PARTITION OF hourly_prices FOR VALUES FROM ('2026-11-01') TO ('2026-12-01');
CREATE TABLE market_snapshots (id bigserial PRIMARY KEY, market_id int REFERENCES markets(id), taken_at timestamptz NOT NULL DEFAULT now(), body jsonb);
CREATE TABLE orderbook_snapshots (id bigserial PRIMARY KEY, market_id int REFERENCES markets(id), taken_at timestamptz NOT NULL DEFAULT now(), bids jsonb, asks jsonb);
CREATE TABLE requests (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), path text NOT NULL, status int NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE arb_go_signals (id bigserial PRIMARY KEY, instance_id int REFERENCES arb_opportunity_instances(id), fired_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE arb_observations (id bigserial PRIMARY KEY, profile_id int REFERENCES arb_monitor_profiles(id), spread numeric);

-- a view, which no preset ever truncates
CREATE VIEW recent_requests AS SELECT * FROM requests WHERE at > now() - interval '1 day';

-- data: kept tables small, runtime tables :rows rows each
INSERT INTO users (email) SELECT 'trader' || g || '@cornice.test' FROM generate_series(1, 5) g;
INSERT INTO user_profiles SELECT id, 'Trader ' || id FROM users;
INSERT INTO user_secrets (user_id, name, ciphertext) SELECT id, 'exchange_api_key', decode(md5(id::text), 'hex') FROM users;
INSERT INTO global_markets (name) SELECT 'GM-' || g FROM generate_series(1, 4) g;
INSERT INTO markets (global_market_id, venue, symbol) SELECT 1 + g % 4, 'venue' || g % 3, 'SYM' || g FROM generate_series(1, 12) g;
INSERT INTO market_links (market_id, linked_market_id) SELECT g, g + 1 FROM generate_series(1, 11) g;
INSERT INTO arb_monitor_profiles (user_id, name) SELECT id, 'profile ' || id FROM users;
INSERT INTO arb_opportunity_instances (profile_id, label) SELECT 1 + g % 5, 'inst ' || g FROM generate_series(1, 6) g;
INSERT INTO arb_opportunity_legs (instance_id, market_id, side) SELECT 1 + g % 6, 1 + g % 12, CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END FROM generate_series(1, 12) g;
INSERT INTO opportunities (market_id, title) SELECT 1 + g % 12, 'opportunity ' || g FROM generate_series(1, 8) g;

INSERT INTO execution_orders (user_id, market_id, qty, payload) SELECT 1 + g % 5, 1 + g % 12, g, jsonb_build_object('note', repeat('x', 200)) FROM generate_series(1, :rows) g;
INSERT INTO executions (order_id, price) SELECT g, 100 + g % 7 FROM generate_series(1, :rows) g;
INSERT INTO simulator_runs (user_id) SELECT 1 + g % 5 FROM generate_series(1, :rows) g;
INSERT INTO simulator_trades (run_id, pnl) SELECT g, g % 13 - 6 FROM generate_series(1, :rows) g;
INSERT INTO agent_runs (agent, log) SELECT 'agent' || g % 3, repeat('log line ', 40) FROM generate_series(1, :rows) g;
INSERT INTO agent_findings (run_id, finding) SELECT g, 'finding ' || g FROM generate_series(1, :rows) g;
INSERT INTO opportunity_observations (opportunity_id, edge) SELECT 1 + g % 8, g % 17 FROM generate_series(1, :rows) g;
-- Spread over the three monthly partitions whatever :rows is (hourly steps would run past
-- November from rows = 26,209 on and fail for want of a partition).
INSERT INTO hourly_prices (market_id, ts, price) SELECT 1 + g % 12, timestamptz '2026-09-01' + (g / 12) * (interval '91 days' / ceil(:rows / 12.0)), 100 + g % 9 FROM generate_series(0, :rows - 1) g;
INSERT INTO market_snapshots (market_id, body) SELECT 1 + g % 12, jsonb_build_object('depth', repeat('d', 300)) FROM generate_series(1, :rows) g;
INSERT INTO orderbook_snapshots (market_id, bids, asks) SELECT 1 + g % 12, '[[1,2]]', '[[3,4]]' FROM generate_series(1, :rows) g;
INSERT INTO requests (user_id, path, status) SELECT 1 + g % 5, '/api/v1/markets/' || g, 200 FROM generate_series(1, :rows) g;
INSERT INTO arb_go_signals (instance_id) SELECT 1 + g % 6 FROM generate_series(1, :rows) g;
INSERT INTO arb_observations (profile_id, spread) SELECT 1 + g % 5, g % 11 FROM generate_series(1, :rows) g;
ANALYZE;
