// Package kcmd is `wisp kcmd`, a small Kafka client for checking a
// deployment by hand: diagnose connectivity, create, delete and list topics,
// produce and fetch records. It speaks only the Kafka protocol (through
// franz-go), so it works against any Kafka-compatible server, not only Wisp.
package kcmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagAliases maps alternative flag names to the flag they set.
var flagAliases = map[string]string{
	"partition-count": "partitions",
}

// NewCommand returns the cobra command `kcmd`. Flags may be spelled with one
// dash or two (-type and --type), as in WarpStream's kcmd, which used Go's
// flag package; pflag alone would read -type as the shorthands -t -y -p -e.
func NewCommand() *cobra.Command {
	o := DefaultOptions()
	var hardDelete bool
	cmd := &cobra.Command{
		Use:   "kcmd --type TYPE [flags]",
		Short: "Kafka diagnostic and convenience client",
		Long: `kcmd talks to any Kafka-compatible server: it diagnoses connectivity, creates,
deletes and lists topics, and produces and fetches records.

Types: ` + strings.Join(Types, ", ") + `

Flags may be written with one or two dashes (-type or --type).`,
		Example: `  wisp kcmd --type diagnose-connection --bootstrap-host localhost --bootstrap-port 9092
  wisp kcmd --type create-topic --topic orders --partitions 3
  wisp kcmd --type produce --topic orders --records "first,,second"
  wisp kcmd --type fetch --topic orders --offset 0 --max-records 10`,
		// Parsing is done in Args (below) after rewriting single-dash long
		// flags. Args runs before the parents' persistent pre-run hooks,
		// so those still see their flags parsed.
		DisableFlagParsing: true,
		Args: func(cmd *cobra.Command, args []string) error {
			return parseArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			if err := o.withDefaults().Validate(); err != nil {
				return err
			}
			// From here on failures are about the server, not the
			// command line; the usage text would only bury them.
			cmd.SilenceUsage = true
			return Run(cmd.Context(), o, cmd.OutOrStdout())
		},
	}

	f := cmd.Flags()
	f.StringVar(&o.Type, "type", "", "what to do (required): "+strings.Join(Types, " | "))
	f.StringVar(&o.BootstrapHost, "bootstrap-host", o.BootstrapHost, "host of the first broker to contact")
	f.IntVar(&o.BootstrapPort, "bootstrap-port", o.BootstrapPort, "port of the first broker to contact")
	f.StringVar(&o.Topic, "topic", "", "topic to create, delete, produce to or fetch from")
	f.Int32Var(&o.Partitions, "partitions", o.Partitions, "partition count for create-topic (alias --partition-count)")
	f.StringVar(&o.Records, "records", "", "values to produce, separated by \""+RecordSeparator+"\"")
	f.StringVar(&o.Key, "key", o.Key, "key of every produced record; empty for a null key")
	f.Int64Var(&o.Offset, "offset", o.Offset, "offset fetch starts at in each partition; -2 earliest, -1 latest")
	f.Int32Var(&o.Partition, "partition", o.Partition, "partition to fetch from or produce to; -1 means all for fetch and the partitioner's choice for produce")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on each network step; fetch stops after this long without new records")
	f.IntVar(&o.MaxRecords, "max-records", o.MaxRecords, "fetch stops after this many records")
	f.BoolVar(&hardDelete, "hard-delete", false, "accepted for compatibility; Wisp deletes are always hard")
	return cmd
}

// parseArgs parses args into cmd's flags after normalizeArgs, and rejects
// positional arguments, which kcmd has none of.
func parseArgs(cmd *cobra.Command, args []string) error {
	// With flag parsing disabled cobra has not merged the parents'
	// persistent flags into cmd.Flags(); InheritedFlags does.
	cmd.InheritedFlags()
	fs := cmd.Flags()
	if err := fs.Parse(normalizeArgs(fs, args)); err != nil {
		return fmt.Errorf("%w; run with --help for the list of flags", err)
	}
	if rest := fs.Args(); len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q: kcmd takes only flags, such as --type and --topic", rest[0])
	}
	return nil
}

// normalizeArgs rewrites -name and -name=value into --name forms when name
// is a long flag of fs, and applies flagAliases. Values of flags are copied
// untouched, so "--offset -2" and "--key -topic" keep their values.
func normalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		body, ok := strings.CutPrefix(a, "--")
		if !ok {
			body, ok = strings.CutPrefix(a, "-")
		}
		name, value, hasValue := strings.Cut(body, "=")
		if !ok || len(name) < 2 {
			out = append(out, a)
			continue
		}
		if canon, aliased := flagAliases[name]; aliased {
			name = canon
		}
		fl := fs.Lookup(name)
		if fl == nil {
			out = append(out, a) // let pflag report it
			continue
		}
		if hasValue {
			out = append(out, "--"+name+"="+value)
			continue
		}
		out = append(out, "--"+name)
		// A flag that needs a value takes the next argument verbatim.
		if fl.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}
