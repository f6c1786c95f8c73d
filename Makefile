# The two commands of the README:
#   make demo   install, then scan the bundled example lures
#   make test   install, then ruff + mypy --strict + the whole pytest suite
.PHONY: install demo test lint typecheck pytest examples bench clean

VENV := .venv/bin

install:
	@scripts/bootstrap.sh

demo: install
	@$(VENV)/aptcatch scan examples/*.*; code=$$?; \
	  echo "(aptcatch scan exit code $$code: 0 clean, 1 suspicious, 2 malicious, 3 not analysed)"; \
	  test $$code -le 3
	@$(VENV)/aptcatch hunt --iocs examples/logs/iocs.txt examples/logs/sysmon_lure_chains.jsonl \
	  examples/logs/proxy_access.log examples/logs/zeek_dns.log; code=$$?; \
	  echo "(aptcatch hunt exit code $$code: 0 no alert, 1 alerts)"; test $$code -le 1

lint: install
	$(VENV)/ruff check src tests samplegen benchmarks
	$(VENV)/ruff format --check src tests samplegen benchmarks

typecheck: install
	$(VENV)/mypy

pytest: install
	$(VENV)/pytest -q -n 2 --dist loadfile

test: lint typecheck pytest

examples: install
	$(VENV)/python -m samplegen examples

bench: install
	$(VENV)/python benchmarks/scan_corpora.py

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache
