package kcmd

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// execute runs `wisp kcmd args...` under a root command that has a
// persistent flag of its own, as the real binary will.
func execute(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "wisp", SilenceErrors: true}
	var logLevel string
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level")
	root.AddCommand(NewCommand())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"kcmd"}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestCommandFlagSpellings(t *testing.T) {
	c := newCluster(t)
	host, port := splitAddr(t, c.ListenAddrs()[0])
	p := strconv.Itoa(port)

	// Each row creates a topic with 3 partitions, spelled differently.
	tests := []struct {
		name string
		args []string
	}{
		{"double dash", []string{"--type", "create-topic", "--bootstrap-host", host, "--bootstrap-port", p, "--topic", "t1", "--partitions", "3"}},
		{"single dash", []string{"-type", "create-topic", "-bootstrap-host", host, "-bootstrap-port", p, "-topic", "t2", "-partitions", "3"}},
		{"equals and alias", []string{"-type=create-topic", "--bootstrap-host=" + host, "-bootstrap-port=" + p, "--topic=t3", "-partition-count=3"}},
		{"alias and parent flag", []string{"--log-level", "debug", "--type", "create-topic", "--bootstrap-host", host, "--bootstrap-port", p, "--topic", "t4", "--partition-count", "3", "--hard-delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := execute(t, tt.args...)
			if err != nil {
				t.Fatalf("execute %q: %v", tt.args, err)
			}
			if !strings.HasPrefix(out, "created topic ") {
				t.Errorf("output %q, want a created line", out)
			}
		})
	}

	out, _, err := execute(t, "-type", "list-topics", "-bootstrap-host", host, "-bootstrap-port", p)
	if err != nil {
		t.Fatalf("list-topics: %v", err)
	}
	equalLines(t, "list-topics", lines(out), []string{
		"t1 partitions=3", "t2 partitions=3", "t3 partitions=3", "t4 partitions=3",
	})
}

func TestCommandNegativeValuesAndFetch(t *testing.T) {
	c := newCluster(t, kfake.SeedTopics(1, "events"))
	host, port := splitAddr(t, c.ListenAddrs()[0])
	p := strconv.Itoa(port)

	if _, _, err := execute(t, "-type", "produce", "-bootstrap-host", host, "-bootstrap-port", p,
		"-topic", "events", "-records", "x,,y", "-key", "-topic"); err != nil {
		t.Fatalf("produce: %v", err)
	}
	// -2 and -1 are values, not flags; "-topic" above was the key.
	out, _, err := execute(t, "-type", "fetch", "-bootstrap-host", host, "-bootstrap-port", p,
		"-topic", "events", "-offset", "-2", "-partition", "-1", "-max-records", "2", "-timeout", "10s")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	equalLines(t, "fetch", lines(out), []string{
		`partition:0 offset:0 key:"-topic" value:"x"`,
		`partition:0 offset:1 key:"-topic" value:"y"`,
		`fetched 2 records from topic "events"`,
	})
}

func TestCommandUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"missing type", nil, "--type is required"},
		{"unknown type", []string{"--type", "explode"}, `unknown --type "explode"`},
		{"unknown flag", []string{"--type", "list-topics", "--colour"}, "colour"},
		{"positional argument", []string{"--type", "list-topics", "extra"}, `unexpected argument "extra"`},
		{"missing topic", []string{"--type", "fetch"}, "--topic is required"},
		{"missing records", []string{"--type", "produce", "--topic", "t"}, "--records is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execute(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v, want it to mention %q", err, tt.says)
			}
		})
	}
}

func TestCommandHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		out, _, err := execute(t, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, want := range []string{"--bootstrap-host", "--max-records", "diagnose-connection", "--partition-count"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q:\n%s", arg, want, out)
			}
		}
	}
}

func TestNormalizeArgs(t *testing.T) {
	fs := NewCommand().Flags()
	tests := []struct {
		in, want []string
	}{
		{[]string{"-type", "fetch"}, []string{"--type", "fetch"}},
		{[]string{"-offset", "-2", "-partition=-1"}, []string{"--offset", "-2", "--partition=-1"}},
		{[]string{"--partition-count", "4"}, []string{"--partitions", "4"}},
		{[]string{"-hard-delete", "-topic", "t"}, []string{"--hard-delete", "--topic", "t"}},
		{[]string{"-x", "-nosuch", "--", "-type"}, []string{"-x", "-nosuch", "--", "-type"}},
	}
	for _, tt := range tests {
		if got := normalizeArgs(fs, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		says   string // empty: valid
	}{
		{"diagnose defaults", func(o *Options) { o.Type = TypeDiagnoseConnection }, ""},
		{"no type", func(o *Options) {}, "--type is required"},
		{"bad port", func(o *Options) { o.Type, o.BootstrapPort = TypeListTopics, 70000 }, "--bootstrap-port"},
		{"empty host", func(o *Options) { o.Type, o.BootstrapHost = TypeListTopics, "" }, "--bootstrap-host"},
		{"zero partitions", func(o *Options) { o.Type, o.Topic, o.Partitions = TypeCreateTopic, "t", 0 }, "--partitions"},
		{"fetch offset", func(o *Options) { o.Type, o.Topic, o.Offset = TypeFetch, "t", -3 }, "--offset"},
		{"fetch partition", func(o *Options) { o.Type, o.Topic, o.Partition = TypeFetch, "t", -2 }, "--partition"},
		{"max records", func(o *Options) { o.Type, o.Topic, o.MaxRecords = TypeFetch, "t", 0 }, "--max-records"},
		{"timeout", func(o *Options) { o.Type, o.Timeout = TypeListTopics, -1 }, "--timeout"},
		{"delete needs topic", func(o *Options) { o.Type = TypeDeleteTopic }, "--topic is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.modify(&o)
			err := o.Validate()
			if tt.says == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Validate = %v, want ErrInvalidOptions mentioning %q", err, tt.says)
			}
		})
	}
}

func TestRunFillsZeroDefaults(t *testing.T) {
	// Zero Timeout and MaxRecords would fail Validate; Run must default
	// them and get as far as dialing.
	host, port := closedPort(t)
	_, err := run(t, Options{Type: TypeListTopics, BootstrapHost: host, BootstrapPort: port})
	if !errors.Is(err, ErrBootstrapUnreachable) {
		t.Errorf("err = %v, want ErrBootstrapUnreachable", err)
	}
}
