.PHONY: bench

# Every figure in BENCHMARKS.md, measured again on this machine (scripts/bench says how).
bench:
	scripts/bench
