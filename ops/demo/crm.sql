-- CRM (demo database `crm`): accounts and opportunities (docs/DOMAIN.md §3).
-- REPLICA IDENTITY FULL: updates carry the whole before-image, which the
-- conflict detection compares with the canonical value.
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  industry text,
  owner_email text,
  legal_entity text,
  tax_region text,
  payment_terms text,
  billing_status text,
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE opportunities (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  name text NOT NULL,
  stage text NOT NULL,
  amount numeric(14,2),
  currency text NOT NULL DEFAULT 'EUR',
  close_date date,
  contract_type text,
  service_line text,
  rate_card_code text,
  start_date date,
  end_date date,
  budget_hours numeric(10,2),
  billing_status text,
  updated_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE accounts REPLICA IDENTITY FULL;
ALTER TABLE opportunities REPLICA IDENTITY FULL;
