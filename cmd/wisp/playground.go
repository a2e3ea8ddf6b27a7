package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wisp-stream/wisp/agent"
)

func newPlaygroundCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "playground",
		Short: "Run one local agent on an embedded default: zero setup, works offline",
		Long: `Run one Wisp agent on this machine with everything local: Kafka on 127.0.0.1:9092,
HTTP on 127.0.0.1:8080, metadata and bucket under --data-dir (./wisp-data), the
bucket as file://<data-dir>/bucket. Data survives restarts on the same data dir.
Accepts every flag of 'wisp agent'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
				return &agent.FlagError{Flag: "data-dir", Err: err}
			}
			if cfg.BucketURL == "" {
				cfg.BucketURL = "file://" + filepath.Join(cfg.DataDir, "bucket")
			}
			return runAgent(cmd.Context(), cfg, func(a *agent.Agent) {
				fmt.Fprintf(os.Stdout, "Wisp playground: one agent, data in %s\n", cfg.BucketURL)
				fmt.Fprintf(os.Stdout, "  Kafka: %s   HTTP: http://%s\n", a.AdvertisedAddr(), a.HTTPAddr())
				fmt.Fprintf(os.Stdout, "  Try it: go run ./cmd/wisp kcmd --type produce --topic hello --records \"world,,wisp\" --bootstrap-port %d\n", portOf(a.AdvertisedAddr()))
			})
		},
	}
	d := agent.DefaultConfig()
	d.KafkaAddr = "127.0.0.1:9092"
	d.AdvertiseAddr = ""
	d.HTTPAddr = "127.0.0.1:8080"
	d.RaftAddr = "127.0.0.1:7947"
	d.GossipAddr = "127.0.0.1:7946"
	d.DataDir = "./wisp-data"
	agentFlags(cmd.Flags(), d)
	return cmd
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return port
}
