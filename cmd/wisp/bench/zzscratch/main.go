package main

import (
	"os"

	"github.com/wisp-stream/wisp/cmd/wisp/bench"
)

func main() {
	if err := bench.Report(os.Args[2:], os.Args[1], os.Stdout); err != nil {
		panic(err)
	}
}
