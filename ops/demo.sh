#!/usr/bin/env bash
# The demo, handoff's main job: on a fresh Debian 12 machine, installs what it
# needs, builds handoff, starts a throwaway PostgreSQL with a `psa` (time
# tracking) and an `erp` database, runs handoff between them, makes changes in
# psa and shows them arriving in erp. Exits 0 when every step checked out.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash ops/install-deps.sh
bash ops/build.sh >/dev/null
HANDOFF="$ROOT/build/ops/handoff"

PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/handoff-demo-XXXXXX)
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres:postgres "$WORK"
  AS=(runuser -u postgres --)
fi
PORT=54329
HANDOFF_PID=""
cleanup() {
  [ -n "$HANDOFF_PID" ] && kill "$HANDOFF_PID" 2>/dev/null && wait "$HANDOFF_PID" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  [ -z "${HANDOFF_KEEP_DEMO:-}" ] && rm -rf "$WORK" || true
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
psql_in() { psql -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d "$1" "${@:2}"; }
count() { psql_in "$1" -At -c "$2"; }
wait_equal() {  # wait_equal SQL [seconds]
  local sql=$1 limit=${2:-60} i=0
  while [ "$(count psa "$sql")" != "$(count erp "$sql")" ]; do
    i=$((i + 1))
    if [ "$i" -gt $((limit * 5)) ]; then
      echo "demo: erp did not catch up with psa for: $sql" >&2
      tail -20 "$WORK/handoff.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

say "Starting a throwaway PostgreSQL 15 (wal_level=logical) in $WORK"
"${AS[@]}" "$PGBIN/initdb" -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D "$WORK/pg" >/dev/null
cat >>"$WORK/pg/postgresql.conf" <<CONF
wal_level = logical
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PORT
max_replication_slots = 10
max_wal_senders = 10
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null

say "Creating psa (time tracking) and erp (finance) with seed data"
for db in psa erp; do
  psql_in postgres -c "CREATE DATABASE $db"
  psql_in "$db" <<'SQL'
CREATE TABLE consultants (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, role text NOT NULL,
                          cost_center text, active boolean NOT NULL DEFAULT true);
CREATE TABLE time_entries (id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text NOT NULL,
                           task_code text, work_date date NOT NULL, hours numeric(6,2) NOT NULL,
                           billable boolean NOT NULL, status text NOT NULL, notes text,
                           approved_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),
                           tags text[]);
SQL
done
psql_in psa <<'SQL'
INSERT INTO consultants
SELECT g, 'consultant' || g || '@example.com',
       (ARRAY['Ana','Bo','Chidi','Dana','Émile','Farah','Gustav','Hiro','Ines','Jonas'])[1 + g % 10] || ' ' ||
       (ARRAY['Kowalski','Nguyen','Okafor','Müller','Rossi','Sato','Silva','Jensen'])[1 + g % 8],
       (ARRAY['analyst','consultant','senior consultant','manager','partner'])[1 + g % 5],
       'CC-' || (100 + g % 6), g % 23 <> 0
FROM generate_series(1, 40) g;
INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, billable, status, notes,
                          approved_at, tags)
SELECT g, 1 + g % 40, 'PRJ-' || (1000 + g % 25), 'T' || (g % 6), date '2026-10-01' + (g % 31),
       round((0.25 * (1 + g % 32))::numeric, 2), g % 5 <> 0,
       CASE WHEN g % 3 = 0 THEN 'approved' ELSE 'submitted' END,
       CASE WHEN g % 4 = 0 THEN 'Workshop für Überleitung' ELSE NULL END,
       CASE WHEN g % 3 = 0 THEN timestamptz '2026-10-31 17:00+01' ELSE NULL END,
       ARRAY['october', 'client-' || (g % 7)]
FROM generate_series(1, 3000) g;
SQL
echo "psa: $(count psa 'SELECT count(*) FROM consultants') consultants, $(count psa 'SELECT count(*) FROM time_entries') time entries; erp: empty"

cat >"$WORK/handoff.yaml" <<YAML
journal: { path: $WORK/journal }
sources:
  - { name: psa, kind: postgres, dsn: "host=$WORK port=$PORT dbname=psa user=postgres",
      tables: [public.consultants, public.time_entries] }
targets:
  - { name: erp, kind: postgres, dsn: "host=$WORK port=$PORT dbname=erp user=postgres" }
routes:
  - { from: psa.public.consultants, to: erp.public.consultants }
  - { from: psa.public.time_entries, to: erp.public.time_entries }
admin: { listen: "127.0.0.1:9187" }
YAML
"$HANDOFF" config validate --config "$WORK/handoff.yaml"

say "Running handoff: the initial snapshot copies psa's existing rows into erp"
"$HANDOFF" run --config "$WORK/handoff.yaml" >"$WORK/handoff.log" 2>&1 &
HANDOFF_PID=$!
wait_equal "SELECT count(*), sum(hours) FROM time_entries"
wait_equal "SELECT count(*) FROM consultants"
echo "erp now holds $(count erp 'SELECT count(*) FROM time_entries') time entries ($(count erp 'SELECT sum(hours) FROM time_entries') hours) and $(count erp 'SELECT count(*) FROM consultants') consultants"

say "Consultants log 500 new entries; a manager approves 200; 20 drafts are deleted"
psql_in psa <<'SQL'
INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, billable, status, notes)
SELECT g, 1 + g % 40, 'PRJ-' || (1000 + g % 25), 'T' || (g % 6), date '2026-11-01' + (g % 20), 7.5, true,
       'submitted', 'Sprint-Review – Kunde Ørsted'
FROM generate_series(3001, 3500) g;
UPDATE time_entries SET status = 'approved', approved_at = now() WHERE id BETWEEN 3001 AND 3200;
DELETE FROM time_entries WHERE id BETWEEN 3481 AND 3500;
SQL
wait_equal "SELECT count(*), sum(hours), count(*) FILTER (WHERE status = 'approved') FROM time_entries"
echo "erp: $(count erp "SELECT count(*) FILTER (WHERE status = 'approved') FROM time_entries") approved entries, $(count erp 'SELECT count(*) FROM time_entries') in all"

say "A consultant leaves; a rename with non-ASCII text"
psql_in psa -c "UPDATE consultants SET active = false WHERE id = 7; UPDATE consultants SET name = 'Zoë Ångström' WHERE id = 8"
wait_equal "SELECT string_agg(id || ':' || name || ':' || active, ',' ORDER BY id) FROM consultants"
echo "erp consultant 8: $(count erp 'SELECT name FROM consultants WHERE id = 8'), consultant 7 active: $(count erp 'SELECT active FROM consultants WHERE id = 7')"

say "Status"
"$HANDOFF" status --config "$WORK/handoff.yaml"
if command -v curl >/dev/null; then
  echo "metrics (excerpt):"
  curl -s http://127.0.0.1:9187/metrics | grep -E '^handoff_(journal_events_total|applied_rows_total|captured_changes_total)' || true
fi

say "Stopping handoff (SIGTERM drains and exits 0)"
kill -TERM "$HANDOFF_PID"
wait "$HANDOFF_PID"
HANDOFF_PID=""

say "Summary"
for t in consultants time_entries; do
  a=$(count psa "SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM $t x")
  b=$(count erp "SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM $t x")
  [ "$a" = "$b" ] && echo "  $t: psa and erp identical (md5 $a)" || { echo "  $t: DIFFERENT" >&2; exit 1; }
done
echo "demo: done"
