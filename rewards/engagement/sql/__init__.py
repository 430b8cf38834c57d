"""The engagement app's hand-written SQL, one module per concern, each with its own tests
(tests/engagement/test_sql.py):

- referrals: who joined through someone's link, looked up on every purchase posted;
- progress: challenge progress added to or set, created where missing, in one statement per set (an upsert);
- rows: rows a unique constraint may already hold (completions, badges), inserted in one statement per set.

Everything else reads and writes through the ORM; points go through the ledger's set writer (rewards.sql.ledger).
SQL is written here where the ORM cannot say it in one statement (ON CONFLICT … DO UPDATE … RETURNING, arrays
unnested) or costs more than the query (the referral look-up)."""
