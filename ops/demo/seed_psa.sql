-- Demo seed for `psa`: 40 consultants (number 40 is an architect, a role no
-- rate card prices).
INSERT INTO consultants (id, email, name, role, cost_center, active)
SELECT g,
       lower((ARRAY['ana','bo','chidi','dana','emile','farah','gustav','hiro','ines','jonas'])[1 + g % 10]) || '.' ||
       lower((ARRAY['kowalski','nguyen','okafor','muller','rossi','sato','silva','jensen'])[1 + g % 8]) || g ||
       '@firm.example',
       (ARRAY['Ana','Bo','Chidi','Dana','Émile','Farah','Gustav','Hiro','Inès','Jonas'])[1 + g % 10] || ' ' ||
       (ARRAY['Kowalski','Nguyen','Okafor','Müller','Rossi','Sato','Silva','Jensen'])[1 + g % 8],
       CASE WHEN g = 40 THEN 'architect'
            ELSE (ARRAY['analyst','consultant','senior consultant','manager','partner'])[1 + g % 5] END,
       'CC-' || (ARRAY['ANL','CON','SEN','MGR','PTR'])[1 + g % 5], true
FROM generate_series(1, 40) g;
