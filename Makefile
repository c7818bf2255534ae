.PHONY: bench eval

# Every figure in BENCHMARKS.md, measured again on this machine (scripts/bench says how).
bench:
	scripts/bench

# The local target's retrieval quality on eval/, for both local embedders (scripts/eval says how).
eval:
	scripts/eval
