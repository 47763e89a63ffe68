-- Demo seed for `erp`: the customers of every CRM account (every 50th lacks
-- its legal entity and tax region: closing a deal for it must fail), and
-- rate cards by role with a rate change on 2026-10-01.
-- customers(crm_account_id, name) are copied from crm.accounts first (demo.sh).
UPDATE customers c SET
  id = 5000 + g,
  legal_entity = CASE WHEN g % 50 = 0 THEN NULL
                      ELSE 'Legal entity ' || g || (ARRAY[' GmbH',' SAS',' Ltd',' Inc'])[1 + g % 4] END,
  tax_region = CASE WHEN g % 50 = 0 THEN NULL
                    ELSE (ARRAY['DE-BE','DE-BY','FR-IDF','GB-LND','US-NY','US-CA'])[1 + g % 6] END,
  payment_terms = (ARRAY['net_30','net_45','net_60'])[1 + g % 3],
  credit_limit = (50000 + (g % 10) * 25000)::numeric(14,2),
  currency = 'EUR'
FROM generate_series(1, 300) g WHERE c.crm_account_id = g;
UPDATE customers SET legal_entity = 'Acme Manufacturing GmbH', tax_region = 'DE-BE' WHERE crm_account_id = 1;

INSERT INTO rate_cards (code, role, rate, currency, effective_from, effective_to)
SELECT c.code, r.role, (r.base * c.factor * p.factor)::numeric(10,2), 'EUR', p.from_date, p.to_date
FROM (VALUES ('STD', 1.0), ('PREMIUM', 1.25), ('PUBLIC', 0.9)) AS c(code, factor),
     (VALUES ('analyst', 95), ('consultant', 140), ('senior consultant', 175), ('manager', 210), ('partner', 290))
       AS r(role, base),
     (VALUES (date '2026-01-01', date '2026-09-30', 1.0), (date '2026-10-01', NULL::date, 1.05)) AS p(from_date, to_date, factor);
