"""Each account's Singer state in PostgreSQL: one row per account, safe for parallel runs.

A session-level advisory lock per account is held for the whole run, so that two runs of one
account never overlap, even from two machines (Dagster's queue already keeps one run per
account; this lock is what holds when that configuration is missing or wrong).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from .accounts import Warehouse


class AccountBusy(RuntimeError):
    pass


class StateStore:
    def __init__(self, warehouse: Warehouse, account: str) -> None:
        self.schema, self.account = warehouse.state_schema, account
        params = warehouse.connection()
        params["dbname"] = params.pop("database")
        self.conn = psycopg.connect(**params, autocommit=True,
                                    application_name=f"tap-pipedrive {account}")
        self.conn.execute(f'create schema if not exists "{self.schema}"')
        self.conn.execute(
            f'create table if not exists "{self.schema}".singer_state (account text primary key, '
            "state jsonb not null, updated_at timestamptz not null default now())")

    def lock(self) -> None:
        """Hold the account's lock until close(); AccountBusy if another run holds it."""
        got = self.conn.execute("select pg_try_advisory_lock(hashtext(%s))",
                                (f"tap-pipedrive:{self.account}",)).fetchone()
        if not (got and got[0]):
            raise AccountBusy(f"another run of account {self.account} is running")

    def get(self) -> dict[str, Any] | None:
        row = self.conn.execute(f'select state from "{self.schema}".singer_state '
                                "where account = %s", (self.account,)).fetchone()
        return row[0] if row else None

    def put(self, state: dict[str, Any]) -> None:
        self.conn.execute(
            f'insert into "{self.schema}".singer_state (account, state) values (%s, %s) '
            "on conflict (account) do update set state = excluded.state, updated_at = now()",
            (self.account, json.dumps(state)))

    def close(self) -> None:
        self.conn.close()  # also releases the advisory lock
