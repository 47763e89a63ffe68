#!/usr/bin/env bash
# The demo, handoff's main job: on a fresh Debian 12 machine, installs what it
# needs, builds handoff, starts a throwaway PostgreSQL with the three demo
# systems (`crm`, `psa`, `erp`, ops/demo/*.sql) and realistic seed data, runs
# handoff in canonical mode with the default pack (schemas/) and tells the
# story from opportunity close to payment, checking every step. Exits 0 when
# every check held.
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
q() { psql_in "$1" -At -c "$2"; }
fail() {
  echo "demo: FAILED: $*" >&2
  tail -30 "$WORK/handoff.log" >&2 || true
  exit 1
}
# wait_for DB SQL EXPECTED [seconds]: until the query prints EXPECTED.
wait_for() {
  local db=$1 sql=$2 want=$3 limit=${4:-90} i=0 got
  while got=$(q "$db" "$sql") && [ "$got" != "$want" ]; do
    i=$((i + 1))
    [ "$i" -gt $((limit * 5)) ] && fail "$db: '$sql' printed '$got', expected '$want'"
    sleep 0.2
  done
}
# settle: until the router has read everything journaled and nothing moved for 2 s.
settle() {
  local last="" now i=0
  while :; do
    # The journal's last seq and every target's applied seq (the live status
    # also carries times and byte counts that move while nothing happens).
    now=$("$HANDOFF" status --config "$CFG" --json | grep -o '"\(last_seq\|applied_seq\)":[0-9]*' | md5sum)
    [ "$now" = "$last" ] && break
    last=$now
    i=$((i + 1))
    [ "$i" -gt 60 ] && fail "handoff did not settle"
    sleep 2
  done
}
open_exceptions() { "$HANDOFF" exceptions list --config "$CFG" --target canonical --json; }
# reasons of open canonical exceptions matching a pattern, one a line
reasons() { open_exceptions | grep -E "$1" | sed -E 's/.*"reason":"(([^"\\]|\\.)*)".*/\1/; s/\\"/"/g'; }

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

say "Creating crm, psa and erp with seed data"
for db in crm psa erp; do
  psql_in postgres -c "CREATE DATABASE $db"
  psql_in "$db" -f "ops/demo/$db.sql"
done
psql_in crm -f ops/demo/seed_crm.sql
psql_in crm -c "COPY (SELECT id, name FROM accounts ORDER BY id) TO STDOUT" |
  psql_in erp -c "COPY customers (crm_account_id, name) FROM STDIN"
psql_in erp -f ops/demo/seed_erp.sql
psql_in psa -f ops/demo/seed_psa.sql
echo "crm: $(q crm 'SELECT count(*) FROM accounts') accounts, $(q crm 'SELECT count(*) FROM opportunities') opportunities" \
     "($(q crm "SELECT count(*) FROM opportunities WHERE stage = 'Closed Won'") closed won)"
echo "erp: $(q erp 'SELECT count(*) FROM customers') customers" \
     "($(q erp 'SELECT count(*) FROM customers WHERE legal_entity IS NULL') without legal entity)," \
     "$(q erp 'SELECT count(*) FROM rate_cards') rate card rows"
echo "psa: $(q psa 'SELECT count(*) FROM consultants') consultants"

CFG="$WORK/handoff.yaml"
DSN="host=$WORK port=$PORT user=postgres"
cat >"$CFG" <<YAML
journal: { path: $WORK/journal }
canonical:
  schemas: $ROOT/schemas/pack
  ownership: $ROOT/schemas/ownership.yaml
  flows: $ROOT/schemas/flows.yaml
sources:
  - { name: crm, kind: postgres, dsn: "$DSN dbname=crm", tables: [public.accounts, public.opportunities] }
  - { name: psa, kind: postgres, dsn: "$DSN dbname=psa",
      tables: [public.consultants, public.projects, public.tasks, public.time_entries, public.expenses] }
  - { name: erp, kind: postgres, dsn: "$DSN dbname=erp",
      tables: [public.customers, public.rate_cards, public.projects, public.billing_schedules, public.labor_ledger,
               public.invoices, public.invoice_lines, public.payments, public.billing_runs] }
targets:
  - { name: crm, kind: postgres, dsn: "$DSN dbname=crm" }
  - { name: psa, kind: postgres, dsn: "$DSN dbname=psa" }
  - { name: erp, kind: postgres, dsn: "$DSN dbname=erp" }
admin: { listen: "127.0.0.1:9187" }
YAML
"$HANDOFF" config validate --config "$CFG"

say "1. handoff starts: customer master both ways, projects of deals already won"
"$HANDOFF" run --config "$CFG" >"$WORK/handoff.log" 2>&1 &
HANDOFF_PID=$!
wait_for crm "SELECT count(*) FROM accounts WHERE legal_entity IS NOT NULL" 294
wait_for erp "SELECT count(*) FROM projects" 20
wait_for psa "SELECT count(*) FROM projects" 20
echo "CRM accounts now show ERP's legal entity and tax region, e.g.:"
q crm "SELECT '  ' || id || ' ' || name || ': ' || legal_entity || ', ' || tax_region || ', ' || payment_terms
       FROM accounts WHERE id IN (1, 2) ORDER BY id"
echo "ERP projects: $(q erp 'SELECT count(*) FROM projects'), billing milestones: $(q erp 'SELECT count(*) FROM billing_schedules');" \
     "PSA projects: $(q psa 'SELECT count(*) FROM projects')"

say "2. Sales closes 'Acme Manufacturing' (opportunity 1021, fixed fee) and a deal for account 50 (no legal entity in ERP)"
psql_in crm -c "UPDATE opportunities SET stage = 'Closed Won', close_date = '2026-09-30', contract_type = 'fixed_fee',
                       budget_hours = 120 WHERE id = 1021;
                UPDATE opportunities SET stage = 'Closed Won', close_date = '2026-09-30' WHERE id = 1022"
wait_for erp "SELECT code || ' ' || contract_type || ' ' || budget_amount || ' ' || cost_center FROM projects WHERE code = 'PRJ-1021'" \
  "$(q crm "SELECT 'PRJ-1021 fixed_fee ' || amount || ' ' || CASE service_line WHEN 'advisory' THEN 'CC-ADV' WHEN 'cloud' THEN 'CC-CLOUD' WHEN 'data' THEN 'CC-DATA' ELSE 'CC-SEC' END FROM opportunities WHERE id = 1021")"
wait_for psa "SELECT code || ' ' || status FROM projects WHERE code = 'PRJ-1021'" "PRJ-1021 open"
echo "ERP project and billing schedule:"
q erp "SELECT '  ' || p.code || ' customer ' || p.customer_id || ', ' || p.contract_type || ', budget ' || p.budget_amount
       || ' ' || p.currency FROM projects p WHERE code = 'PRJ-1021'"
q erp "SELECT '  milestone ' || milestone || ': ' || amount || ' due ' || due_date FROM billing_schedules
       WHERE project_code = 'PRJ-1021' ORDER BY due_date"
echo "PSA: $(q psa "SELECT code || ' (' || name || ') ' || status FROM projects WHERE code = 'PRJ-1021'")"
wait_for erp "SELECT count(*) FROM projects WHERE code = 'PRJ-1022'" 0
for i in $(seq 1 150); do open_exceptions | grep -q 'opportunity-1022\|engagement:crm:1022' && break; sleep 0.2; done
X1022=$(open_exceptions | grep 'engagement:crm:1022' | sed -E 's/.*"seq":([0-9]+).*/\1/' | head -1)
[ -n "$X1022" ] || fail "the deal for account 50 was not parked"
echo "Parked for review (exception canonical/$X1022):"
reasons 'engagement:crm:1022' | sed 's/^/  /'

say "3. Consultants book October; managers approve (some entries must fail)"
psql_in psa <<'SQL'
INSERT INTO tasks (id, project_code, code, name, active, billable)
SELECT p * 10 + t, 'PRJ-' || (1000 + p), 'T' || t, (ARRAY['Discovery','Delivery','Legacy support'])[t], t <> 3, true
FROM generate_series(1, 22) p, generate_series(1, 3) t;
INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, billable, status, notes)
SELECT g, 1 + g % 40, 'PRJ-' || (1001 + g % 20),
       CASE WHEN g % 50 = 0 THEN 'T3' ELSE 'T' || (1 + g % 2) END,
       CASE WHEN g % 10 = 0 THEN date '2026-09-01' + g % 30 ELSE date '2026-10-01' + g % 31 END,
       (1 + g % 15) * 0.5, g % 9 <> 0, 'submitted',
       CASE WHEN g % 7 = 0 THEN 'Workshop – Überleitung' END
FROM generate_series(1, 3000) g;
INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, billable, status)
SELECT 5000 + g, 1 + g, 'PRJ-1021', 'T' || (1 + g % 2), date '2026-10-05' + g, 6.5, true, 'submitted'
FROM generate_series(1, 6) g;
UPDATE time_entries SET status = 'approved', approved_at = now() WHERE id <= 2900 OR id > 5000;
SQL
APPROVED=$(q psa "SELECT count(*) FROM time_entries WHERE status = 'approved'")
settle
POSTED=$(q erp "SELECT count(*) FROM labor_ledger")
echo "approved in PSA: $APPROVED; posted to the ERP labor ledger: $POSTED" \
     "($(q erp "SELECT sum(hours) || ' h, ' || sum(amount) || ' EUR' FROM labor_ledger"))"
# Every approved entry is either posted or parked with a reason: nothing is lost.
q psa "SELECT 'time_entry:psa:' || id FROM time_entries WHERE status = 'approved' ORDER BY 1" >"$WORK/approved"
q erp "SELECT time_entry_ref FROM labor_ledger ORDER BY 1" >"$WORK/posted"
open_exceptions | grep -o 'time_entry:psa:[0-9]*' | sort -u >"$WORK/parked"
comm -23 "$WORK/approved" "$WORK/posted" >"$WORK/unposted"
MISSING=$(comm -23 "$WORK/unposted" "$WORK/parked" | wc -l)
[ "$MISSING" -eq 0 ] || fail "$MISSING approved entries neither posted nor parked"
echo "approved but not posted: $(wc -l <"$WORK/unposted"), each parked with its reason:"
for kind in 'would exceed its budget' 'is not active' 'has no rate for role'; do
  echo "  $(reasons "$kind" | wc -l) x $kind, e.g. $(reasons "$kind" | head -1)"
done
[ "$(q erp "SELECT count(*) FROM labor_ledger WHERE time_entry_ref LIKE 'time_entry:psa:500_'")" = 6 ] ||
  fail "PRJ-1021's six entries were not all posted"

say "4. A manager edits an approved entry in the PSA: a conflict, not an overwrite"
psql_in psa -c "UPDATE time_entries SET hours = hours + 2 WHERE id = 5001"
for i in $(seq 1 150); do open_exceptions | grep -q 'time_entry:psa:5001.*locked' && break; sleep 0.2; done
open_exceptions | grep -q 'time_entry:psa:5001.*locked' || fail "the locked edit was not parked"
echo "ERP keeps $(q erp "SELECT hours FROM labor_ledger WHERE time_entry_ref = 'time_entry:psa:5001'") h; PSA says" \
     "$(q psa 'SELECT hours FROM time_entries WHERE id = 5001') h; parked:"
reasons 'time_entry:psa:5001' | sed 's/^/  /'

say "5. Finance completes account 50 in ERP and retries the parked deal"
psql_in erp -c "UPDATE customers SET legal_entity = 'Halden Capital SAS', tax_region = 'FR-IDF' WHERE crm_account_id = 50"
wait_for crm "SELECT legal_entity FROM accounts WHERE id = 50" "Halden Capital SAS"
"$HANDOFF" exceptions retry --config "$CFG" --target canonical --seq "$X1022" --actor finance@firm.example
wait_for erp "SELECT count(*) FROM projects WHERE code = 'PRJ-1022'" 1
wait_for psa "SELECT count(*) FROM projects WHERE code = 'PRJ-1022'" 1
echo "PRJ-1022 now exists once in ERP and in the PSA"

say "6. Billing close for October (run twice: idempotent)"
"$HANDOFF" billing close --config "$CFG" --period 2026-10 | tail -3
settle
FIRST=$(q erp "SELECT count(*) || ' invoices, ' || sum(total) || ' EUR' FROM invoices")
LINES=$(q erp "SELECT count(*) FROM invoice_lines")
"$HANDOFF" billing close --config "$CFG" --period 2026-10 >/dev/null
settle
[ "$(q erp "SELECT count(*) || ' invoices, ' || sum(total) || ' EUR' FROM invoices")" = "$FIRST" ] || fail "second close changed invoices"
[ "$(q erp "SELECT count(*) FROM invoice_lines")" = "$LINES" ] || fail "second close changed invoice lines"
echo "draft invoices: $FIRST ($LINES lines); a second close created nothing new"
q erp "SELECT '  ' || number || ': ' || subtotal || ' + tax ' || tax || ' = ' || total || ' ' || currency
       FROM invoices WHERE project_code = 'PRJ-1021'"

say "7. Finance issues the Acme invoice and is paid: CRM shows it"
psql_in erp -c "UPDATE invoices SET status = 'issued' WHERE project_code = 'PRJ-1021'"
wait_for crm "SELECT billing_status FROM opportunities WHERE id = 1021" invoiced
psql_in erp -c "INSERT INTO payments (id, invoice_id, amount, paid_at, reference)
                SELECT 1, id, total, now(), 'SEPA-2026-11-0042' FROM invoices WHERE project_code = 'PRJ-1021'"
wait_for crm "SELECT billing_status FROM opportunities WHERE id = 1021" paid
wait_for crm "SELECT billing_status FROM accounts WHERE id = 1" paid
echo "crm.accounts 1: $(q crm "SELECT name || ', billing status ' || billing_status FROM accounts WHERE id = 1")"

say "8. Killing the engine mid-flow and restarting it"
psql_in psa -c "INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, status, approved_at)
                SELECT 6000 + g, 1 + g % 39, 'PRJ-1022', 'T1', date '2026-11-02' + g % 20, 2, 'approved', now()
                FROM generate_series(1, 300) g"
sleep 0.5
kill -KILL "$HANDOFF_PID"
wait "$HANDOFF_PID" 2>/dev/null || true
"$HANDOFF" run --config "$CFG" >>"$WORK/handoff.log" 2>&1 &
HANDOFF_PID=$!
settle
wait_for erp "SELECT count(*) FROM labor_ledger WHERE time_entry_ref LIKE 'time_entry:psa:6___'" 300
[ "$(q erp "SELECT count(*) - count(DISTINCT time_entry_ref) FROM labor_ledger")" = 0 ] || fail "a ledger row twice"
echo "after SIGKILL and restart: all 300 new entries posted once (ledger: $(q erp 'SELECT count(*) FROM labor_ledger') rows)"

say "9. Finance reconciles October from the systems themselves"
# Every approved entry posted at its rate or parked with its reason, each posted
# billable entry on one invoice line, invoice totals, won deals provisioned.
"$HANDOFF" reconcile --config "$CFG" --period 2026-10 >"$WORK/reconcile.txt" ||
  { cat "$WORK/reconcile.txt"; fail "reconciliation of 2026-10 found unexplained breaks"; }
sed -n '1,6p' "$WORK/reconcile.txt"
echo "parked, each with the reason from the exception queue, e.g.:"
grep -m 2 -A1 '^  parked' "$WORK/reconcile.txt" | grep -v '^--' || true
tail -1 "$WORK/reconcile.txt"

say "10. Someone edits ERP behind handoff's back: a ledger row deleted, an invoice line changed"
GONE=$(q erp "SELECT time_entry_ref FROM labor_ledger l WHERE EXISTS (SELECT 1 FROM invoice_lines i
              WHERE i.time_entry_ref = l.time_entry_ref AND i.invoice_number LIKE 'INV-2026-10-%') ORDER BY 1 LIMIT 1")
psql_in erp -c "DELETE FROM labor_ledger WHERE time_entry_ref = '$GONE'"
psql_in erp -c "UPDATE invoice_lines SET amount = amount + 100 WHERE id = (SELECT id FROM invoice_lines
                WHERE kind = 'labor' AND invoice_number LIKE 'INV-2026-10-%' AND time_entry_ref <> '$GONE'
                ORDER BY invoice_number, line_no DESC LIMIT 1)"
settle
RC=0
"$HANDOFF" reconcile --config "$CFG" --period 2026-10 --format csv --output "$WORK/reconcile-2026-10.csv" || RC=$?
[ "$RC" = 1 ] || fail "reconcile did not report the edits (exit $RC)"
BREAKS=$(grep -c ',break,' "$WORK/reconcile-2026-10.csv")
[ "$BREAKS" = 4 ] || { cat "$WORK/reconcile-2026-10.csv"; fail "expected 4 breaks, found $BREAKS"; }
grep -q "^2026-10,time_posting,break,$GONE," "$WORK/reconcile-2026-10.csv" || fail "the deleted ledger row was not reported"
echo "the CSV for finance ($WORK/reconcile-2026-10.csv) lists exactly those, with amounts:"
grep ',break,' "$WORK/reconcile-2026-10.csv" | cut -d, -f2-8 | sed 's/^/  /'

say "Summary"
echo "What flowed:"
echo "  CRM -> ERP customers kept in sync: $(q erp 'SELECT count(*) FROM customers'); ERP -> CRM legal entities: $(q crm 'SELECT count(*) FROM accounts WHERE legal_entity IS NOT NULL')"
echo "  closed-won -> projects: ERP $(q erp 'SELECT count(*) FROM projects'), PSA $(q psa 'SELECT count(*) FROM projects'), milestones $(q erp 'SELECT count(*) FROM billing_schedules')"
echo "  approved time -> ERP labor ledger: $(q erp 'SELECT count(*) FROM labor_ledger') entries, $(q erp 'SELECT sum(amount) FROM labor_ledger') EUR"
echo "  billing close 2026-10 -> $(q erp 'SELECT count(*) FROM invoices') draft invoices; paid: $(q erp "SELECT count(*) FROM invoices i WHERE EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id)")"
echo "Open exceptions by reason (handoff status):"
"$HANDOFF" status --config "$CFG" | sed -n '/xception/,$p' | head -12
echo
echo "Trace of the Acme engagement (handoff trace --brief crm:opportunities:1021; --json for machines):"
"$HANDOFF" trace --config "$CFG" --brief crm:opportunities:1021

say "Stopping handoff (SIGTERM drains and exits 0)"
kill -TERM "$HANDOFF_PID"
wait "$HANDOFF_PID"
HANDOFF_PID=""
echo "demo: done"
