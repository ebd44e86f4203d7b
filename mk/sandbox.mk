# The local sandbox: VPS containers with sshd + dockerd, a fresh host, a registry.
.PHONY: sandbox sandbox-down sandbox-status sandbox-images

sandbox:
	bash sandbox/sandbox.sh up

sandbox-down:
	bash sandbox/sandbox.sh down

sandbox-status:
	bash sandbox/sandbox.sh status

sandbox-images:
	bash sandbox/sandbox.sh images

# PostgreSQL for accessory tests and demos, from Debian's package on the sandbox base image.
.PHONY: sandbox-postgres
sandbox-postgres: sandbox
	docker build -q -t dhow-sandbox-postgres:15 sandbox/postgres >/dev/null

# Redis for the examples (examples/readiness-redis), from Debian's package on the same base.
.PHONY: sandbox-redis
sandbox-redis: sandbox
	docker build -q -t dhow-sandbox-redis:7 sandbox/redis >/dev/null
