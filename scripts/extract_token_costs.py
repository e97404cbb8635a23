"""Write tap_pipedrive/token_costs.json: the `x-token-cost` of every GET operation in
Pipedrive's OpenAPI specs (v1 and v2), keyed by path with `{}` for path parameters.

    .venv/bin/python scripts/extract_token_costs.py [SPEC_DIR]
    (SPEC_DIR defaults to ../shared/pipedrive-openapi)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tap_pipedrive" / "token_costs.json"
PREFIX = {"v1.yaml": "/api/v1", "v2.yaml": "/api/v2"}


def main(spec_dir: Path) -> None:
    costs: dict[str, int] = {}
    for name, prefix in PREFIX.items():
        spec = yaml.safe_load((spec_dir / name).read_text())
        for path, operations in spec["paths"].items():
            cost = (operations.get("get") or {}).get("x-token-cost")
            if isinstance(cost, int):
                costs[prefix + re.sub(r"\{[^}]*\}", "{}", path)] = cost
    doc = {
        "source": "x-token-cost of GET operations in Pipedrive's OpenAPI specs "
        "(scripts/extract_token_costs.py)",
        "GET": dict(sorted(costs.items())),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(costs)} GET costs written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "pipedrive-openapi")
