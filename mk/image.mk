# Image build/delivery tests against the local Docker engine and the sandbox registry.
.PHONY: test-image

test-image: demo-bin
	$(CARGO) test --features e2e --test e2e_image_local --test e2e_image_transfer
