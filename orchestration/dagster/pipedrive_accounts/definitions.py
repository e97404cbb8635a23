"""The Dagster code location: one partition per account of the accounts file.

    PIPEDRIVE_ACCOUNTS_FILE=accounts.yaml dagster dev -m pipedrive_accounts.definitions

A materialization of a partition runs sync.py for that account in a process of its own,
through Dagster Pipes, and maps the tap's exit code: 0 materialized (records per stream as
metadata); 75 (daily budget or run cap reached, state saved) retried later in the same run
when `budget_retries` is set, else failed with that reason; 1, 130, 143 failed. A failure
fails only that account's partition. Runs carry the tag `account=<name>`: the instance's run
queue (dagster.yaml) keeps one run per account and a limit for the machine.
"""


import os
import signal
import subprocess
import sys
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Config,
    DagsterExecutionInterruptedError,
    Definitions,
    Failure,
    MetadataValue,
    PartitionedConfig,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    RetryRequested,
    RunRequest,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    multiprocess_executor,
    open_pipes_session,
    schedule,
)

from .accounts import AccountsError, load

HERE = Path(__file__).resolve().parent
ACCOUNTS_FILE = os.environ.get("PIPEDRIVE_ACCOUNTS_FILE", str(HERE.parent / "accounts.yaml"))
if not Path(ACCOUNTS_FILE).exists():
    raise AccountsError(f"no accounts file {ACCOUNTS_FILE}: set PIPEDRIVE_ACCOUNTS_FILE, or "
                        "copy orchestration/dagster/accounts.example.yaml to accounts.yaml")
registry = load(ACCOUNTS_FILE)
accounts = StaticPartitionsDefinition([a.name for a in registry.accounts])
EXITS = {1: "failed", 130: "interrupted (SIGINT)", 143: "stopped (SIGTERM)"}


class SyncConfig(Config):
    budget_retries: int = 0  # exit 75: so many retries of the step, each after the wait below
    budget_retry_seconds: int = 3600


@asset(partitions_def=accounts, kinds={"pipedrive", "postgres"},
       description="One Pipedrive account loaded into its own PostgreSQL schema.")
def pipedrive_account(context: AssetExecutionContext, config: SyncConfig):
    name = context.partition_key
    env_path = os.pathsep.join(p for p in (str(HERE.parent), os.environ.get("PYTHONPATH")) if p)
    with open_pipes_session(
        context=context, context_injector=PipesTempFileContextInjector(),
        message_reader=PipesTempFileMessageReader(),
        extras={"account": name, "accounts_file": ACCOUNTS_FILE},
    ) as session:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipedrive_accounts.sync"],
            env={**os.environ, "PYTHONPATH": env_path, **session.get_bootstrap_env_vars()})
        try:
            code = process.wait()
        except DagsterExecutionInterruptedError:  # run cancelled: the tap saves its state
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
            raise
    reports = list(session.get_custom_messages())
    report = reports[-1] if reports else {}
    error = report.get("error") or f"sync exited with {code}"
    metadata = {"exit_code": code, "records_per_stream": MetadataValue.json(
        report.get("records") or {})}
    if code == 0:
        yield from session.get_results()
    elif code == 75:
        if context.retry_number < config.budget_retries:
            context.log.warning(f"account {name}: {error}; retrying in "
                                f"{config.budget_retry_seconds} s")
            raise RetryRequested(max_retries=config.budget_retries,
                                 seconds_to_wait=config.budget_retry_seconds)
        raise Failure(description=f"account {name} stopped at its API budget (exit 75, state "
                      f"saved; the next run resumes): {error}", metadata=metadata)
    else:
        reason = EXITS.get(code, f"exit {code}")
        raise Failure(description=f"account {name} {reason}: {error}", metadata=metadata)


sync_accounts = define_asset_job(
    "sync_accounts", selection=[pipedrive_account], partitions_def=accounts,
    executor_def=multiprocess_executor,
    config=PartitionedConfig(
        partitions_def=accounts, run_config_for_partition_key_fn=lambda key: {},
        tags_for_partition_key_fn=lambda key: {"account": key}),
)


@schedule(job=sync_accounts, cron_schedule="0 3 * * *")
def daily_sync(context):
    """Every account once a day; the run queue spreads them under its limits."""
    for name in accounts.get_partition_keys():
        yield RunRequest(run_key=None, partition_key=name, tags={"account": name})


defs = Definitions(assets=[pipedrive_account], jobs=[sync_accounts], schedules=[daily_sync])
