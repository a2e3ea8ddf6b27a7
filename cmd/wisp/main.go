// Command wisp runs Wisp agents and talks to them: `wisp agent` (a cluster
// member), `wisp playground` (one local agent, zero setup) and `wisp kcmd`
// (a Kafka diagnostic client).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wisp-stream/wisp/agent"
	"github.com/wisp-stream/wisp/cmd/wisp/kcmd"
)

// usageError marks errors in what the user typed; they exit with code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	root := &cobra.Command{
		Use:           "wisp",
		Short:         "Wisp: Kafka-compatible streaming whose data lives only in object storage",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	root.AddCommand(newAgentCommand(), newPlaygroundCommand(), newDemoCommand(), newBenchCommand(), kcmd.NewCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wisp:", err)
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	var ue usageError
	var fe *agent.FlagError
	if errors.As(err, &ue) || errors.As(err, &fe) {
		return 2
	}
	return 1
}
