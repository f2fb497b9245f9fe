# The two commands of the README: `make run` serves the product, `make test` runs the tests.
.PHONY: run test test-all bootstrap lint bench schema clean-data

PYTEST_ARGS ?= -m "not slow"

run: bootstrap
	.venv/bin/retailgis serve

test: bootstrap
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-all: bootstrap
	.venv/bin/python -m pytest

bootstrap:
	@scripts/bootstrap.sh

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy domain geo

bench: bootstrap
	@for f in bench/*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done

schema: bootstrap
	.venv/bin/strawberry export-schema schema:schema --output schema/schema.graphql

clean-data:
	.venv/bin/retailgis db stop || true
	rm -rf .data
