# The two commands that matter (see README.md).
.PHONY: setup test demo

setup:
	scripts/setup.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh
