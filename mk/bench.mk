# Benchmarks: measured side by side in one run, reported as ratios (never pass/fail).
.PHONY: bench bench-deploy dhow-release

dhow-release:
	$(CARGO) build --release -p dhow

bench-deploy: sandbox demo-bin proxy-static dhow-release
	bash bench/deploy.sh

bench: bench-deploy
