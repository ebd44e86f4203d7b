# SSH and Docker-over-SSH: unit tests and end-to-end tests against the sandbox.
.PHONY: test-ssh test-e2e-ssh

test-ssh:
	$(CARGO) test --bin dhow ssh:: docker:: cli::hosts_tmp

# Needs `make sandbox`; DHOW_SANDBOX_STATE overrides sandbox/.state.
test-e2e-ssh:
	$(CARGO) test --features e2e --test e2e_ssh
