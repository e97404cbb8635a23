"""A throw-away PostgreSQL server for tests and demos, started from the machine's binaries.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


def find_bin_dir() -> Path | None:
    candidates = [os.environ.get("PG_BIN", "")]
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "psql").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    bin_dir: Path
    root: Path
    port: int = 0

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.port = _free_port()
        data = self.root / "data"
        run = subprocess.run
        run(self._as_owner(str(self.bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                           "-U", "postgres"), check=True, capture_output=True)
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                           "-l", str(self.root / "log"), "-w", "start"),
            check=True, capture_output=True)
        self.sql("create database warehouse", database="postgres")

    def stop(self) -> None:
        subprocess.run(self._as_owner(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"),
                                      "-m", "immediate", "stop"), capture_output=True)

    def sql(self, query: str, database: str = "warehouse") -> list[list[str]]:
        out = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
            check=True, capture_output=True, text=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines()]
