# Wisp: `make run` starts the playground, `make test` runs every test.
GO       ?= go
PKGS     := ./...
TESTTIME ?= 25m

.PHONY: all build run test deps check fmt-check vet bench bench-minio franzgo-suite clean

all: build

build:
	$(GO) build -o bin/wisp ./cmd/wisp

run:
	$(GO) run ./cmd/wisp playground

# test is what CI runs (.ci/run): install the real peers the tests use
# (MinIO built from source, the Apache Kafka tools from Maven Central; both
# cached under ~/.cache/wisp), static checks, then the whole suite with the
# race detector. A missing peer fails its tests; nothing is skipped.
test: deps check
	$(GO) test -race -count=1 -timeout $(TESTTIME) $(PKGS)

deps:
	scripts/install-minio.sh >/dev/null
	scripts/install-kafka-tools.sh >/dev/null

check: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# bench runs the produce benchmarks quoted in the README.
bench:
	$(GO) test ./tests -run '^$$' -bench 'BenchmarkProduce' -benchtime 200000x

# bench-minio is issue 3's benchmark: raw MinIO PUTs against Wisp produce in one run.
bench-minio:
	scripts/install-minio.sh
	$(GO) test ./tests -run '^$$' -bench BenchmarkMinIO -benchtime 300000x

# franzgo-suite runs franz-go's own kgo integration tests against a
# playground (about 5 minutes; not part of make test).
franzgo-suite:
	tests/franzgo_suite.sh

clean:
	rm -rf bin wisp-data wisp-cluster
