# Build, test and vet targets shared by the project's Go modules
# (http-server-go, bench/go-baseline). The including Makefile sets BINARY
# (output name in bin/) and SRC_GO (the hand-written files gofmt must accept).

# Extra flags for go build/test/vet; none are needed with the pinned
# dependencies (http-server-go/README.md), e.g. GO_FLAGS=-ldflags=-checklinkname=0.
GO_FLAGS ?=

.PHONY: build test vet clean

build:
	go build $(GO_FLAGS) -o bin/$(BINARY) .

test:
	go test $(GO_FLAGS) ./...

vet:
	go vet $(GO_FLAGS) ./...
	@out="$$(gofmt -l $(SRC_GO))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
