package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-stream/wisp/agent"
)

func newAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a Wisp agent (a cluster member)",
		Long: `Run a Wisp agent. All record data goes to --bucket-url; --data-dir keeps only the
Raft log of the metadata. Every flag can also be set as WISP_<FLAG> (e.g.
WISP_BUCKET_URL) or as a key in the --config file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			if dry, _ := cmd.Flags().GetBool("dry-run"); dry {
				if err := cfg.Validate(); err != nil {
					return err
				}
				fmt.Fprintln(os.Stdout, "configuration is valid")
				return nil
			}
			return runAgent(cmd.Context(), cfg, nil)
		},
	}
	agentFlags(cmd.Flags(), agent.DefaultConfig())
	cmd.Flags().Bool("dry-run", false, "check the flags, environment and config file, print whether they are valid, and exit")
	return cmd
}

// runAgent starts an agent and runs it until SIGINT or SIGTERM, then shuts it
// down gracefully. started, if set, is called once the agent serves.
func runAgent(ctx context.Context, cfg agent.Config, started func(*agent.Agent)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if started != nil {
		started(a)
	}
	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "shutting down: flushing pending data (Ctrl-C again to force)")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Shutdown(shutdownCtx)
}
