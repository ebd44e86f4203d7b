# The demo deploy against the local sandbox: `make deploy-staging` is the README's first command.
.PHONY: deploy-staging rollback-staging dhow-bin

DHOW := ./target/debug/dhow

dhow-bin:
	$(CARGO) build -p dhow

deploy-staging: deps sandbox demo-bin proxy-static dhow-bin
	$(DHOW) deploy -d staging $(DEPLOY_ARGS)
	@. sandbox/.state/env; for h in $$SANDBOX_HOSTS; do \
	  printf '%s -> ' "http://$$h:$$SANDBOX_HTTP_PORT/"; curl -s --max-time 5 "http://$$h:$$SANDBOX_HTTP_PORT/" || echo "(no answer)"; \
	done

rollback-staging: dhow-bin
	$(DHOW) rollback -d staging
