# Wisp: `make run` starts the playground, `make test` runs every test.
GO       ?= go
PKGS     := ./...
TESTTIME ?= 25m
# Fuzzing: make test runs each target for FUZZSHORT, make fuzz for FUZZTIME.
FUZZTIME  ?= 5m
FUZZSHORT ?= 6s
FUZZ_TARGETS := ./kafka:FuzzRequest ./kafka/recordbatch:FuzzValidate ./kafka/recordbatch:FuzzRecords \
	./objstore/datafile:FuzzFileBatches ./fsm:FuzzDecode ./fsm:FuzzApply

.PHONY: all build run test deps check fmt-check vet bench bench-minio bench-kafka franzgo-suite fuzz fuzz-short fuzz-corpus clean

all: build

build:
	$(GO) build -o bin/wisp ./cmd/wisp

run:
	$(GO) run ./cmd/wisp playground

# test is what CI runs (.ci/run): install the real peers the tests use
# (MinIO built from source, the Apache Kafka tools from Maven Central; both
# cached under ~/.cache/wisp), static checks, then the whole suite with the
# race detector. A missing peer fails its tests; nothing is skipped.
test: deps check fuzz-short
	$(GO) test -race -count=1 -timeout $(TESTTIME) $(PKGS)

deps:
	scripts/install-minio.sh >/dev/null
	scripts/install-kafka-tools.sh >/dev/null
	scripts/install-chromium.sh >/dev/null

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

# bench-kafka is issue 8's benchmark: Apache Kafka and Wisp (1 agent at 250ms
# and 20ms flush, 3 agents) on this machine, same client and workloads, 3 runs
# each (about 30 minutes); table on stdout, bench-out/bench.md and bench.png.
bench-kafka:
	scripts/bench.sh --out bench-out

# fuzz-short runs every fuzz target briefly (about a minute in all); fuzz
# runs each for FUZZTIME (make fuzz FUZZTIME=1h). A failure leaves the input
# in the package's testdata/fuzz/<target>/: fix the bug and commit the file as
# its regression seed. The committed seed corpora also run in plain go test.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZSHORT)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

# fuzz-corpus rewrites the committed seed corpora from the real encoders.
fuzz-corpus:
	WISP_UPDATE_FUZZ_CORPUS=1 $(GO) test -count=1 -run TestUpdateFuzzCorpus ./kafka ./kafka/recordbatch ./objstore/datafile ./fsm

# franzgo-suite runs franz-go's own kgo integration tests against a
# playground (about 5 minutes; not part of make test).
franzgo-suite:
	tests/franzgo_suite.sh

clean:
	rm -rf bin wisp-data wisp-cluster
