# The two commands of the README.
.PHONY: run test install lint schemas constraints accounts-demo

run:            ## install, start the sandbox, meltano run tap-pipedrive target-duckdb, report
	scripts/run.sh

test: install   ## install, lint, type-check, run every test (offline, against the sandbox)
	.venv/bin/ruff check .
	.venv/bin/mypy tap_pipedrive
	.venv/bin/pytest -q

install:        ## .venv with the versions pinned in constraints.txt
	scripts/install.sh

constraints:    ## refresh constraints.txt from a fresh, unconstrained install (then run the tests)
	scripts/update_constraints.sh

schemas:        ## regenerate tap_pipedrive/schemas from Pipedrive's OpenAPI specs, and the README's tables
	.venv/bin/python scripts/generate_schemas.py $(SPEC_DIR)
	.venv/bin/python scripts/update_readme.py

ACCOUNTS ?= 4
accounts-demo: install  ## N sandboxes, PostgreSQL and Dagster: every account loaded, checked, rerun
	cd orchestration/dagster && ../../.venv/bin/python -m pipedrive_accounts.demo --accounts $(ACCOUNTS)
