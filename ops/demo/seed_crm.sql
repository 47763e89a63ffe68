-- Demo seed for `crm`: 300 accounts and 150 opportunities, 20 of them
-- already closed-won (their projects are provisioned when handoff starts).
INSERT INTO accounts (id, name, industry, owner_email)
SELECT g,
       CASE WHEN g = 1 THEN 'Acme Manufacturing'
            ELSE (ARRAY['Nordwind','Bergmann','Lumen','Castellan','Orbis','Vantage','Helix','Meridian','Kestrel',
                        'Tamarind','Solberg','Quarry','Aurora','Fenwick','Halden','Ironbridge','Juniper','Larchmont',
                        'Marlow','Oakhurst'])[1 + g % 20] || ' ' ||
                 (ARRAY['Logistics','Retail','Energy','Pharma','Capital','Foods','Telecom','Robotics','Health',
                        'Insurance','Mobility','Textiles','Media','Chemicals','Aerospace'])[1 + (g / 20) % 15] ||
                 CASE WHEN g > 300 / 2 THEN ' ' || g ELSE '' END
       END,
       (ARRAY['manufacturing','retail','energy','pharma','financial services','food','telecom','technology',
              'healthcare','insurance','automotive','textiles','media','chemicals','aerospace'])[1 + (g / 20) % 15],
       (ARRAY['Lena.Vogt@firm.example','raj.patel@firm.example','Chloe.Martin@firm.example'])[1 + g % 3]
FROM generate_series(1, 300) g;

INSERT INTO opportunities (id, account_id, name, stage, amount, currency, close_date, contract_type, service_line,
                           rate_card_code, start_date, end_date, budget_hours)
SELECT 1000 + i,
       CASE i WHEN 21 THEN 1 WHEN 22 THEN 50  -- 22: a customer ERP has not completed
              ELSE 1 + (i * 7) % 299 + CASE WHEN (1 + (i * 7) % 299) % 50 = 0 THEN 1 ELSE 0 END END,
       (ARRAY['ERP rollout','Cloud migration','Data platform','Security audit','Process review','Analytics uplift',
              'Integration programme','Cost optimisation'])[1 + i % 8] || ' ' || (2026 + i % 2),
       CASE WHEN i <= 20 THEN 'Closed Won'
            ELSE (ARRAY['Prospecting','Qualification','Proposal','Negotiation'])[1 + i % 4] END,
       (20000 + (i % 9) * 7500)::numeric(14,2), 'EUR',
       CASE WHEN i <= 20 THEN date '2026-09-15' + i ELSE NULL END,
       (ARRAY['time_and_materials','fixed_fee','time_and_materials','retainer'])[1 + i % 4],
       (ARRAY['advisory','cloud','data','security'])[1 + i % 4],
       (ARRAY['STD','PREMIUM','PUBLIC'])[1 + i % 3],
       date '2026-10-01', date '2026-12-31',
       CASE WHEN i = 3 THEN 20 ELSE 900 END
FROM generate_series(1, 150) i;
