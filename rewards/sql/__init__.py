"""The points economy's hand-written SQL, one module per concern, each with its own tests (tests/rewards/test_sql*.py).

- copying: COPY in the binary format, ids drawn from a table's sequence beforehand;
- ledger: the set writer of ledger entries, lots and balances that the batch, expiry, event awards and the
  engagement prizes all write with;
- accounts: an account read and locked, points added to it, accounts locked and saved in sets (the batch);
- tiers: what counts towards a tier over the window, for one member;
- programme: the configuration's version, read by every post;
- checks: the ledger check, accounts whose balances differ from the ledger or the lots (one snapshot).

Everything else reads and writes through the ORM. SQL is written here where the ORM costs more than the query
(the single post's hot path) or cannot say it (COPY, `= ANY(array)` updates, temporary tables, the ledger check's
sums of two tables joined to a third in one snapshot)."""
