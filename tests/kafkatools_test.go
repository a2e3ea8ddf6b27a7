package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests drive the Apache Kafka command-line tools (the real Java ones,
// fetched by scripts/install-kafka-tools.sh) against an in-process agent, the
// way a user types them. They fail, never skip, when the tools are missing:
// `make test` installs them first.

// kafkaToolsBin returns the directory holding the kafka-* wrappers: from
// $WISP_KAFKA_TOOLS (the bin dir or the dir above it), else from the install
// script's cache.
func kafkaToolsBin(t testing.TB) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("WISP_KAFKA_TOOLS"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"), d)
	}
	cache := os.Getenv("WISP_CACHE_DIR")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "wisp")
		}
	}
	if cache != "" {
		dirs = append(dirs, filepath.Join(cache, "kafka-tools", "current", "bin"))
	}
	for _, d := range dirs {
		if fi, err := os.Stat(filepath.Join(d, "kafka-topics")); err == nil && fi.Mode()&0o111 != 0 {
			return d
		}
	}
	t.Fatalf("Kafka tools not installed: run scripts/install-kafka-tools.sh (looked in %v)", dirs)
	return ""
}

// kafkaTools runs the wrappers against one agent.
type kafkaTools struct {
	t         *testing.T
	bin       string
	bootstrap string
}

func newKafkaTools(t *testing.T, ta *testAgent) *kafkaTools {
	return &kafkaTools{t: t, bin: kafkaToolsBin(t), bootstrap: ta.AdvertisedAddr()}
}

// toolTimeout bounds one tool run; a JVM tool that hangs fails the test.
const toolTimeout = 3 * time.Minute

func (k *kafkaTools) command(ctx context.Context, stdin, tool string, args []string) *exec.Cmd {
	args = append([]string{"--bootstrap-server", k.bootstrap}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(k.bin, tool), args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// try runs tool with --bootstrap-server and args, feeding it stdin.
func (k *kafkaTools) try(stdin, tool string, args ...string) (stdout, stderr string, err error) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := k.command(ctx, stdin, tool, args)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	k.t.Logf("%s %s: %v in %s", tool, strings.Join(args, " "), exitStatus(err), time.Since(start).Round(time.Millisecond))
	return out.String(), errOut.String(), err
}

func exitStatus(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// run is try that fails the test unless the tool exits 0.
func (k *kafkaTools) run(stdin, tool string, args ...string) (stdout, stderr string) {
	k.t.Helper()
	stdout, stderr, err := k.try(stdin, tool, args...)
	if err != nil {
		k.t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// lockedBuffer is a bytes.Buffer safe for a process writer and a test reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background starts a long-running tool; stop sends SIGTERM (the tools'
// shutdown hooks then close their clients cleanly) and waits for it.
func (k *kafkaTools) background(tool string, args ...string) (stdout *lockedBuffer, stop func()) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	cmd := k.command(ctx, "", tool, args)
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		cancel()
		k.t.Fatalf("start %s: %v", tool, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			defer cancel()
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				k.t.Errorf("%s did not stop within 30s of SIGTERM; stderr:\n%s", tool, stderr)
			}
		})
	}
	k.t.Cleanup(stop)
	return stdout, stop
}

// outputLines splits tool output into its non-empty lines.
func outputLines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// toolTable parses the whitespace-aligned tables of kafka-consumer-groups:
// the rows under the first line that starts with firstColumn, keyed by the
// header names.
func toolTable(t testing.TB, out, firstColumn string) []map[string]string {
	t.Helper()
	var header []string
	var rows []map[string]string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case header == nil && len(f) > 0 && f[0] == firstColumn:
			header = f
		case header != nil && len(f) == 0:
			// A blank line ends the table.
			if len(rows) > 0 {
				return rows
			}
		case header != nil:
			if len(f) != len(header) {
				t.Fatalf("row %q has %d columns, header %v has %d:\n%s", l, len(f), header, len(header), out)
			}
			row := map[string]string{}
			for i, h := range header {
				row[h] = f[i]
			}
			rows = append(rows, row)
		}
	}
	if header == nil {
		t.Fatalf("no table with a %s column in:\n%s", firstColumn, out)
	}
	return rows
}

// rowsByPartition indexes table rows by their PARTITION column.
func rowsByPartition(t testing.TB, rows []map[string]string) map[int32]map[string]string {
	t.Helper()
	out := map[int32]map[string]string{}
	for _, r := range rows {
		p, err := strconv.Atoi(r["PARTITION"])
		if err != nil {
			t.Fatalf("row %v: bad PARTITION", r)
		}
		out[int32(p)] = r
	}
	return out
}

// produceToPartitions writes counts[p] records to each partition p of topic
// with franz-go and returns them as console-consumer lines ("key\tvalue").
func produceToPartitions(t testing.TB, ta *testAgent, topic, prefix string, counts []int) []string {
	t.Helper()
	cl := ta.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	var want []string
	for p, n := range counts {
		for i := range n {
			k, v := fmt.Sprintf("p%d", p), fmt.Sprintf("%s-%d-%d", prefix, p, i)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte(k), Value: []byte(v)})
			want = append(want, k+"\t"+v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return want
}

// consoleConsume runs kafka-console-consumer printing keys until it has
// printed n records, and returns the printed lines.
func (k *kafkaTools) consoleConsume(n int, args ...string) []string {
	k.t.Helper()
	args = append(args, "--formatter-property", "print.key=true", "--max-messages", strconv.Itoa(n), "--timeout-ms", "60000")
	out, stderr := k.run("", "kafka-console-consumer", args...)
	got := outputLines(out)
	if len(got) != n {
		k.t.Fatalf("console consumer printed %d records, want %d:\n%s\nstderr:\n%s", len(got), n, out, stderr)
	}
	if want := fmt.Sprintf("Processed a total of %d messages", n); !strings.Contains(stderr, want) {
		k.t.Fatalf("console consumer stderr lacks %q:\n%s", want, stderr)
	}
	return got
}

func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\ngot  %q\nwant %q", what, g, w)
	}
}

func TestToolsTopics(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)

	out, _ := k.run("", "kafka-topics", "--create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1")
	if !strings.Contains(out, "Created topic orders.") {
		t.Fatalf("create: %s", out)
	}
	k.run("", "kafka-topics", "--create", "--topic", "audit", "--partitions", "1")
	if _, stderr, err := k.try("", "kafka-topics", "--create", "--topic", "orders", "--partitions", "3"); err == nil || !strings.Contains(stderr, "already exists") {
		t.Fatalf("creating orders twice: err=%v, want a failure naming TopicExists; stderr:\n%s", err, stderr)
	}

	out, _ = k.run("", "kafka-topics", "--list")
	if got := outputLines(out); !slices.Equal(got, []string{"audit", "orders"}) {
		t.Fatalf("--list printed %q, want [audit orders]", got)
	}

	out, _ = k.run("", "kafka-topics", "--describe", "--topic", "orders")
	desc := outputLines(out)
	if len(desc) != 4 || !strings.Contains(desc[0], "Topic: orders") || !strings.Contains(desc[0], "PartitionCount: 3") ||
		!strings.Contains(desc[0], "ReplicationFactor: 1") {
		t.Fatalf("--describe summary:\n%s", out)
	}
	for p := range 3 {
		row := desc[1+p]
		if !strings.Contains(row, fmt.Sprintf("Partition: %d\t", p)) || !strings.Contains(row, "Leader: ") || strings.Contains(row, "Leader: none") {
			t.Fatalf("--describe partition %d line %q:\n%s", p, row, out)
		}
	}

	k.run("", "kafka-topics", "--delete", "--topic", "orders")
	waitFor(t, 30*time.Second, "orders to disappear from --list", func() bool {
		out, _ := k.run("", "kafka-topics", "--list")
		return slices.Equal(outputLines(out), []string{"audit"})
	})
	if _, stderr, err := k.try("", "kafka-topics", "--describe", "--topic", "orders"); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("--describe of a deleted topic: err=%v stderr:\n%s", err, stderr)
	}
}

func TestToolsConsoleProducerThenConsumerFromBeginning(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "events", "--partitions", "3")

	// Keys repeat so that per-key order (one key, one partition) is checked;
	// a value may hold the separator after the first one.
	input := []string{
		"user-1:login", "user-2:login", "user-3:login",
		"user-1:view /home", "user-2:view /cart", "user-1:logout",
		"user-4:ratio 3:4", "user-3:ünïcödé ✓", "user-2:logout",
	}
	_, stderr := k.run(strings.Join(input, "\n")+"\n", "kafka-console-producer", "--topic", "events",
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=:")
	if strings.Contains(stderr, "ERROR") {
		t.Fatalf("console producer logged errors:\n%s", stderr)
	}

	got := k.consoleConsume(len(input), "--topic", "events", "--from-beginning")
	var want []string
	for _, in := range input {
		key, value, _ := strings.Cut(in, ":")
		want = append(want, key+"\t"+value)
	}
	sameLines(t, "consumed records", got, want)
	// Records of one key share a partition, so they come back in order.
	for _, key := range []string{"user-1", "user-2", "user-3"} {
		var g, w []string
		for _, l := range got {
			if strings.HasPrefix(l, key+"\t") {
				g = append(g, l)
			}
		}
		for _, l := range want {
			if strings.HasPrefix(l, key+"\t") {
				w = append(w, l)
			}
		}
		if !slices.Equal(g, w) {
			t.Fatalf("records of %s out of order: got %q want %q", key, g, w)
		}
	}
}

func TestToolsConsoleConsumerGroupResumes(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "jobs", "--partitions", "3")
	first := produceToPartitions(t, ta, "jobs", "first", []int{2, 1, 2})

	got := k.consoleConsume(len(first), "--topic", "jobs", "--group", "workers", "--from-beginning")
	sameLines(t, "first run", got, first)

	second := produceToPartitions(t, ta, "jobs", "second", []int{1, 2, 0})
	// No --from-beginning: the group's committed offsets say where to go on.
	got = k.consoleConsume(len(second), "--topic", "jobs", "--group", "workers")
	sameLines(t, "second run must get only the new records", got, second)
}

// Kafka 4 clients also speak the new consumer protocol (KIP-848) when asked.
func TestToolsConsoleConsumerNewGroupProtocol(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "alerts", "--partitions", "3")
	newProtocol := []string{"--topic", "alerts", "--group", "pager", "--command-property", "group.protocol=consumer"}

	first := produceToPartitions(t, ta, "alerts", "first", []int{1, 2, 3})
	got := k.consoleConsume(len(first), append(newProtocol, "--from-beginning")...)
	sameLines(t, "first run", got, first)
	second := produceToPartitions(t, ta, "alerts", "second", []int{2, 0, 1})
	got = k.consoleConsume(len(second), newProtocol...)
	sameLines(t, "second run must get only the new records", got, second)

	out, _ := k.run("", "kafka-consumer-groups", "--list", "--type")
	if rows := toolTable(t, out, "GROUP"); len(rows) != 1 || rows[0]["GROUP"] != "pager" || rows[0]["TYPE"] != "Consumer" {
		t.Fatalf("--list --type must show pager as a Consumer (KIP-848) group:\n%s", out)
	}
	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "pager")
	for p, r := range rowsByPartition(t, toolTable(t, out, "GROUP")) {
		if r["LAG"] != "0" || r["CURRENT-OFFSET"] != r["LOG-END-OFFSET"] {
			t.Fatalf("partition %d: %v, want everything committed:\n%s", p, r, out)
		}
	}
}

func TestToolsConsumerGroups(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "clicks", "--partitions", "3")
	before := produceToPartitions(t, ta, "clicks", "a", []int{4, 5, 6})
	k.consoleConsume(len(before), "--topic", "clicks", "--group", "dashboard", "--from-beginning")
	after := produceToPartitions(t, ta, "clicks", "b", []int{1, 2, 3})

	out, _ := k.run("", "kafka-consumer-groups", "--list")
	if !slices.Contains(outputLines(out), "dashboard") {
		t.Fatalf("--list lacks dashboard:\n%s", out)
	}

	out, stderr := k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard")
	if !strings.Contains(stderr, "Consumer group 'dashboard' has no active members.") {
		t.Fatalf("--describe of an idle group does not say it has no active members:\n%s\nstderr:\n%s", out, stderr)
	}
	rows := rowsByPartition(t, toolTable(t, out, "GROUP"))
	wantLag := map[int32][3]string{0: {"4", "5", "1"}, 1: {"5", "7", "2"}, 2: {"6", "9", "3"}}
	if len(rows) != len(wantLag) {
		t.Fatalf("--describe shows %d partitions, want 3:\n%s", len(rows), out)
	}
	for p, w := range wantLag {
		r := rows[p]
		if r["TOPIC"] != "clicks" || r["CURRENT-OFFSET"] != w[0] || r["LOG-END-OFFSET"] != w[1] || r["LAG"] != w[2] {
			t.Fatalf("partition %d: %v, want CURRENT-OFFSET %s LOG-END-OFFSET %s LAG %s:\n%s", p, r, w[0], w[1], w[2], out)
		}
	}

	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard", "--state")
	if st := toolTable(t, out, "GROUP"); len(st) != 1 || st[0]["STATE"] != "Empty" || st[0]["#MEMBERS"] != "0" {
		t.Fatalf("--describe --state of an idle group:\n%s", out)
	}

	// A live member: the group is Stable and the member owns all 3 partitions.
	consumed, stop := k.background("kafka-console-consumer", "--topic", "clicks", "--group", "dashboard")
	waitFor(t, time.Minute, "the live consumer to catch up", func() bool { return len(outputLines(consumed.String())) == len(after) })
	sameLines(t, "live member resumed at the committed offsets", outputLines(consumed.String()), withoutKeys(after))
	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard", "--state")
	if st := toolTable(t, out, "GROUP"); len(st) != 1 || st[0]["STATE"] != "Stable" || st[0]["#MEMBERS"] != "1" {
		t.Fatalf("--describe --state with one live member:\n%s", out)
	}
	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard", "--members")
	if m := toolTable(t, out, "GROUP"); len(m) != 1 || m[0]["#PARTITIONS"] != "3" || m[0]["CONSUMER-ID"] == "-" {
		t.Fatalf("--describe --members with one live member owning 3 partitions:\n%s", out)
	}
	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard")
	for p, r := range rowsByPartition(t, toolTable(t, out, "GROUP")) {
		if r["CONSUMER-ID"] == "-" || r["HOST"] == "-" {
			t.Fatalf("partition %d has no owner while a member is live: %v\n%s", p, r, out)
		}
	}
	// Resetting needs an idle group, as in Kafka.
	if out, stderr, _ := k.try("", "kafka-consumer-groups", "--reset-offsets", "--group", "dashboard", "--topic", "clicks", "--to-earliest", "--execute"); !strings.Contains(out+stderr, "inactive") {
		t.Fatalf("--reset-offsets on an active group must be refused:\n%s\n%s", out, stderr)
	}
	stop()

	waitFor(t, 30*time.Second, "the group to become Empty after its member left", func() bool {
		out, _ := k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard", "--state")
		st := toolTable(t, out, "GROUP")
		return len(st) == 1 && st[0]["STATE"] == "Empty"
	})
	out, _ = k.run("", "kafka-consumer-groups", "--reset-offsets", "--group", "dashboard", "--topic", "clicks", "--to-earliest", "--execute")
	reset := rowsByPartition(t, toolTable(t, out, "GROUP"))
	if len(reset) != 3 {
		t.Fatalf("--reset-offsets printed %d partitions, want 3:\n%s", len(reset), out)
	}
	for p, r := range reset {
		if r["NEW-OFFSET"] != "0" {
			t.Fatalf("partition %d reset to %s, want 0:\n%s", p, r["NEW-OFFSET"], out)
		}
	}
	out, _ = k.run("", "kafka-consumer-groups", "--describe", "--group", "dashboard")
	for p, r := range rowsByPartition(t, toolTable(t, out, "GROUP")) {
		if r["CURRENT-OFFSET"] != "0" || r["LAG"] != r["LOG-END-OFFSET"] {
			t.Fatalf("after the reset partition %d: %v, want CURRENT-OFFSET 0 and LAG = LOG-END-OFFSET:\n%s", p, r, out)
		}
	}
	got := k.consoleConsume(len(before)+len(after), "--topic", "clicks", "--group", "dashboard")
	sameLines(t, "after --to-earliest the group reads everything again", got, append(before, after...))

	out, _ = k.run("", "kafka-consumer-groups", "--delete", "--group", "dashboard")
	if !strings.Contains(out, "Deletion of requested consumer groups ('dashboard') was successful.") {
		t.Fatalf("--delete:\n%s", out)
	}
	out, _ = k.run("", "kafka-consumer-groups", "--list")
	if slices.Contains(outputLines(out), "dashboard") {
		t.Fatalf("--list still shows the deleted group:\n%s", out)
	}
}

// withoutKeys turns "key\tvalue" lines into the value-only lines that
// kafka-console-consumer prints without print.key.
func withoutKeys(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		_, out[i], _ = strings.Cut(l, "\t")
	}
	return out
}

func TestToolsConfigsDescribeShowsOnlyOverrides(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "tuned", "--partitions", "1",
		"--config", "retention.ms=3600000", "--config", "max.message.bytes=2097152")
	k.run("", "kafka-topics", "--create", "--topic", "plain", "--partitions", "1")

	cases := []struct {
		topic string
		want  []string
	}{
		{"tuned", []string{"max.message.bytes=2097152", "retention.ms=3600000"}},
		{"plain", nil},
	}
	for _, tc := range cases {
		t.Run(tc.topic, func(t *testing.T) {
			out, _ := k.run("", "kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", tc.topic)
			ls := outputLines(out)
			if len(ls) == 0 || ls[0] != fmt.Sprintf("Dynamic configs for topic %s are:", tc.topic) {
				t.Fatalf("kafka-configs --describe:\n%s", out)
			}
			var got []string
			for _, l := range ls[1:] {
				entry, _, _ := strings.Cut(strings.TrimSpace(l), " ")
				got = append(got, entry)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("kafka-configs --describe shows %q, want only the overrides %q:\n%s", got, tc.want, out)
			}
		})
	}
}

// TestToolsConfigsAlter: kafka-configs --alter adds and deletes topic
// overrides (IncrementalAlterConfigs), and --describe shows the result.
func TestToolsConfigsAlter(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	k.run("", "kafka-topics", "--create", "--topic", "kept", "--partitions", "1", "--config", "retention.ms=3600000")
	k.run("", "kafka-configs", "--alter", "--entity-type", "topics", "--entity-name", "kept",
		"--add-config", "retention.bytes=1048576,cleanup.policy=compact")
	k.run("", "kafka-configs", "--alter", "--entity-type", "topics", "--entity-name", "kept", "--delete-config", "retention.ms")
	out, _ := k.run("", "kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", "kept")
	var got []string
	for _, l := range outputLines(out)[1:] {
		entry, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		got = append(got, entry)
	}
	slices.Sort(got)
	if want := []string{"cleanup.policy=compact", "retention.bytes=1048576"}; !slices.Equal(got, want) {
		t.Fatalf("after --alter, overrides are %q, want %q:\n%s", got, want, out)
	}
	if _, stderr, err := k.try("", "kafka-configs", "--alter", "--entity-type", "topics", "--entity-name", "kept", "--add-config", "retention.ms=soon"); err == nil {
		t.Fatalf("an invalid value was accepted:\n%s", stderr)
	}
}

func TestToolsPerfTests(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	k := newKafkaTools(t, ta)
	const n = 100_000
	k.run("", "kafka-topics", "--create", "--topic", "perf", "--partitions", "3")

	out, stderr := k.run("", "kafka-producer-perf-test", "--topic", "perf", "--num-records", strconv.Itoa(n),
		"--record-size", "100", "--throughput", "-1")
	ls := outputLines(out)
	if len(ls) == 0 || !strings.HasPrefix(ls[len(ls)-1], fmt.Sprintf("%d records sent,", n)) {
		t.Fatalf("producer perf test did not report %d records sent:\n%s\nstderr:\n%s", n, out, stderr)
	}
	if strings.Contains(stderr, "ERROR") || strings.Contains(out, "Exception") {
		t.Fatalf("producer perf test reported errors:\n%s\nstderr:\n%s", out, stderr)
	}
	t.Logf("producer perf test: %s", ls[len(ls)-1])

	out, stderr = k.run("", "kafka-consumer-perf-test", "--topic", "perf", "--num-records", strconv.Itoa(n), "--timeout", "60000")
	ls = outputLines(out)
	if len(ls) != 2 {
		t.Fatalf("consumer perf test printed %d lines, want a header and one result:\n%s\nstderr:\n%s", len(ls), out, stderr)
	}
	stats := map[string]string{}
	header, values := strings.Split(ls[0], ","), strings.Split(ls[1], ",")
	if len(header) != len(values) {
		t.Fatalf("consumer perf test header and values differ in length:\n%s", out)
	}
	for i, h := range header {
		stats[strings.TrimSpace(h)] = strings.TrimSpace(values[i])
	}
	if got := stats["data.consumed.in.nMsg"]; got != strconv.Itoa(n) {
		t.Fatalf("consumer perf test consumed %s records, want %d:\n%s\nstderr:\n%s", got, n, out, stderr)
	}
	if strings.Contains(stderr, "WARNING") || strings.Contains(stderr, "ERROR") {
		t.Fatalf("consumer perf test reported problems:\n%s", stderr)
	}
	t.Logf("consumer perf test: %s MB consumed at %s MB/s, %s records/s (fetch-only %s MB/s)",
		stats["data.consumed.in.MB"], stats["MB.sec"], stats["nMsg.sec"], stats["fetch.MB.sec"])
}
