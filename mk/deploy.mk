# The demo deploy against the local sandbox.
.PHONY: deploy-staging

deploy-staging: deps sandbox
	@echo
	@echo "The sandbox is up (see sandbox/.state/env). Deploying is not built yet:"
	@echo "the deploy pipeline (issue #4) lands next; this target will then deploy the demo app."
