# weir — build, generate and test.
#
#   make test        start the real stack (deploy/local/up.sh), check generated code and
#                    schema compatibility, then go test -race ./... against the stack, and
#                    the risk alerts' precision/recall test once more without -race
#   make unit        go test -race ./... without starting anything (integration tests skip
#                    unless CI is set)
#   make gen         regenerate schemas/ Go code from the .proto files
#   make check-gen   fail if the committed generated code is stale
#   make breaking    fail if schemas/ breaks an existing message (buf breaking)
#   make contracts   recompile the test token contracts (npm solc) and their Go bindings
#   make build       build bin/weir
#   make up / down   start / stop the local real stack

SHELL := /bin/bash
GO ?= go
GOTEST_FLAGS ?= -race -timeout 45m
BUF := $(GO) tool -modfile=internal/tools/go.mod buf

.PHONY: test unit gen check-gen breaking build up down vet contracts

build:
	$(GO) build -o bin/weir ./cmd/weir

up:
	bash deploy/local/up.sh

down:
	bash deploy/local/down.sh

vet:
	$(GO) vet ./...

gen:
	bash schemas/gen.sh

check-gen:
	bash schemas/gen.sh --check

breaking:
	bash schemas/breaking.sh

contracts:
	bash ingest/ethereum/contracts/build.sh

unit:
	$(GO) test $(GOTEST_FLAGS) ./...

test: up check-gen breaking vet
	set -a; source deploy/local/stack.env; set +a; \
	$(GO) test $(GOTEST_FLAGS) ./... && \
	echo "the alerts' precision and recall on the generator's labelled holdout (without -race, which slows the pipeline tenfold):" && \
	$(GO) test -count=1 -timeout 20m -run '^TestAlertsOnLabeledHoldout$$' ./bench/riskbench/
