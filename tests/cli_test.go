package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/cmd/wisp/kcmd"
)

var (
	buildOnce sync.Once
	wispBin   string
	buildErr  error
)

// wispBinary builds cmd/wisp once per test run.
func wispBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wisp-bin-")
		if err != nil {
			buildErr = err
			return
		}
		wispBin = filepath.Join(dir, "wisp")
		out, err := exec.Command("go", "build", "-o", wispBin, "../cmd/wisp").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build wisp: %v", buildErr)
	}
	return wispBin
}

func TestAgentRejectsBadConfigWithExitCode2(t *testing.T) {
	bin := wispBinary(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad duration", []string{"agent", "--bucket-url", "mem://x", "--flush-interval", "soon"}, nil, "flush-interval"},
		{"unknown scheme", []string{"agent", "--bucket-url", "ftp://x", "--data-dir", t.TempDir()}, nil, "bucket-url"},
		{"missing bucket", []string{"agent", "--data-dir", t.TempDir()}, nil, "bucket-url"},
		{"bad size", []string{"agent", "--bucket-url", "mem://x", "--flush-bytes", "lots"}, nil, "flush-bytes"},
		{"bad env", []string{"agent", "--bucket-url", "mem://x"}, []string{"WISP_FLUSH_INTERVAL=never"}, "flush-interval"},
		{"unknown flag", []string{"agent", "--no-such-flag"}, nil, "no-such-flag"},
		{"port in use", []string{"playground", "--data-dir", t.TempDir(), "--kafka-addr", busy.Addr().String(), "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"}, nil, "kafka-addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want exit code 2; stderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.want) {
				t.Fatalf("error line %q does not name %q", last, tc.want)
			}
		})
	}
}

// playground runs `wisp playground` as a user would and returns the Kafka
// and HTTP addresses it prints.
type playground struct {
	cmd         *exec.Cmd
	kafka, http string
	stderr      *bytes.Buffer
}

func startPlayground(t *testing.T, dataDir string, extra ...string) *playground {
	t.Helper()
	args := append([]string{"playground", "--data-dir", dataDir,
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--flush-interval", "20ms"}, extra...)
	cmd := exec.Command(wispBinary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pg := &playground{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = pg.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrs := regexp.MustCompile(`Kafka: (\S+)\s+HTTP: http://(\S+)`)
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	var sawHint bool
	for sc.Scan() {
		if m := addrs.FindStringSubmatch(sc.Text()); m != nil {
			pg.kafka, pg.http = m[1], m[2]
		}
		if strings.Contains(sc.Text(), "Try it:") {
			sawHint = true
			break
		}
	}
	if pg.kafka == "" || !sawHint {
		t.Fatalf("playground did not print its addresses and a hint; stderr: %s", pg.stderr)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return pg
}

func (pg *playground) interrupt(t *testing.T) {
	t.Helper()
	pg.cmd.Process.Signal(syscall.SIGINT)
	if err := pg.cmd.Wait(); err != nil {
		t.Fatalf("playground exited with %v after Ctrl-C; stderr: %s", err, pg.stderr)
	}
}

func runKcmd(t *testing.T, addr string, o kcmd.Options) string {
	t.Helper()
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	o.BootstrapHost, o.BootstrapPort = host, port
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kcmd.Run(ctx, o, &out); err != nil {
		t.Fatalf("kcmd %s: %v\n%s", o.Type, err, out.String())
	}
	return out.String()
}

func TestPlaygroundWithKcmdSurvivesRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "wisp-data")
	pg := startPlayground(t, dataDir)

	resp, err := http.Get("http://" + pg.http + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	resp.Body.Close()

	diag := runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeDiagnoseConnection})
	if !strings.Contains(diag, "ACCESSIBLE") {
		t.Fatalf("diagnose-connection:\n%s", diag)
	}
	if out := runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeCreateTopic, Topic: "hello", Partitions: 1}); !strings.Contains(out, `created topic "hello" successfully`) {
		t.Fatalf("create-topic:\n%s", out)
	}
	out := runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeProduce, Topic: "hello", Records: "world,,wisp", Key: "hello", Partition: -1})
	if !strings.Contains(out, `result: partition:0 offset:0 value:"world"`) || !strings.Contains(out, `result: partition:0 offset:1 value:"wisp"`) {
		t.Fatalf("produce:\n%s", out)
	}
	pg.interrupt(t)
	if _, err := os.Stat(filepath.Join(dataDir, "bucket")); err != nil {
		t.Fatalf("the embedded bucket is not under the data dir: %v", err)
	}

	pg = startPlayground(t, dataDir)
	fetch := kcmd.Options{Type: kcmd.TypeFetch, Topic: "hello", Offset: 0, Partition: -1, MaxRecords: 2, Timeout: 10 * time.Second}
	got := runKcmd(t, pg.kafka, fetch)
	for _, want := range []string{`partition:0 offset:0 key:"hello" value:"world"`, `partition:0 offset:1 key:"hello" value:"wisp"`} {
		if !strings.Contains(got, want) {
			t.Fatalf("after restart, fetch lacks %s:\n%s", want, got)
		}
	}
	if out := runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeProduce, Topic: "hello", Records: "again", Key: "hello", Partition: -1}); !strings.Contains(out, "offset:2") {
		t.Fatalf("offsets must continue after restart:\n%s", out)
	}
	pg.interrupt(t)
}
