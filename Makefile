# Wisp: `make run` starts the playground, `make test` runs every test.
GO       ?= go
PKGS     := ./...
TESTTIME ?= 25m

.PHONY: all build run test check fmt-check vet unit bench clean

all: build

build:
	$(GO) build -o bin/wisp ./cmd/wisp

run:
	$(GO) run ./cmd/wisp playground

# test is what CI runs (.ci/run): static checks, then the whole suite with
# the race detector.
test: check
	$(GO) test -race -count=1 -timeout $(TESTTIME) $(PKGS)

check: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# bench runs the produce benchmarks quoted in the README.
bench:
	$(GO) test ./tests -run '^$$' -bench 'BenchmarkProduce' -benchtime 200000x

clean:
	rm -rf bin wisp-data
