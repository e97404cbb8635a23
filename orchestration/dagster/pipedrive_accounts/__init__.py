"""Many Pipedrive accounts with Dagster: one partition per account, each run isolated.

accounts.py reads the accounts file; sync.py is the process a materialization starts (through
Dagster Pipes): `tap-pipedrive | target-postgres` with the account's own folder and state;
definitions.py is the code location; demo.py is `make accounts-demo`.
"""
