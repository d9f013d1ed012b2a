# The two commands that matter (see README.md).
.PHONY: setup test demo bench

setup:
	scripts/setup.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	scripts/setup.sh && .venv/bin/python -m bench
