package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The console test drives the real page in Debian's headless Chromium
// (installed by scripts/install-chromium.sh, which make test runs) against
// the real `wisp demo` binary. A missing browser fails the test.

// artifactsDir keeps the screenshots; it is git-ignored.
const artifactsDir = "artifacts"

// chromiumPath finds the system browser, or fails saying how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WISP_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatal("no Chromium found at /usr/bin/chromium (or $WISP_CHROMIUM): run scripts/install-chromium.sh (make test runs it)")
	return ""
}

// demoProcess is a running `wisp demo`.
type demoProcess struct {
	cmd        *exec.Cmd
	consoleURL string
	bootstrap  string
	printedAt  time.Time // when the console URL was printed
	mu         sync.Mutex
	stdout     bytes.Buffer
	stderr     bytes.Buffer
	exited     chan struct{}
}

func (d *demoProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return "stdout:\n" + d.stdout.String() + "\nstderr:\n" + d.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDemo runs `wisp demo` on free ports and waits for its console URL.
// The demo is interrupted (Ctrl-C) when the test ends and must exit cleanly.
func startDemo(t *testing.T, args ...string) *demoProcess {
	t.Helper()
	args = append([]string{"demo", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--gossip-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)
	d := &demoProcess{cmd: exec.Command(wispBinary(t), args...), exited: make(chan struct{})}
	d.cmd.Stderr = lockedWriter{&d.mu, &d.stderr}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start wisp demo: %v", err)
	}
	urls := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var console string
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.stdout.WriteString(line + "\n")
			d.mu.Unlock()
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Console:" {
				console = f[1]
			}
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Bootstrap:" {
				urls <- [2]string{console, f[1]}
			}
		}
	}()
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.exited:
			if code := d.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("wisp demo exited with code %d after Ctrl-C\n%s", code, d.output())
			}
			// Start-up progress on stderr, a summary on stdout when it stops.
			out := d.output()
			for _, want := range []string{"demo: starting agent 1 of", "demo: creating topic", "Wisp demo stopping after", "demo: stopping agent"} {
				if !strings.Contains(out, want) {
					t.Errorf("wisp demo never printed %q\n%s", want, out)
				}
			}
		case <-time.After(90 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
			t.Errorf("wisp demo did not stop within 90s of Ctrl-C\n%s", d.output())
		}
	})
	select {
	case u := <-urls:
		d.consoleURL, d.bootstrap, d.printedAt = u[0], u[1], time.Now()
	case <-d.exited:
		t.Fatalf("wisp demo exited before printing its console URL\n%s", d.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("wisp demo printed no console URL within 2 minutes\n%s", d.output())
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(d.consoleURL) || len(strings.Split(d.bootstrap, ",")) < 1 {
		t.Fatalf("console %q, bootstrap %q\n%s", d.consoleURL, d.bootstrap, d.output())
	}
	return d
}

// browser is a headless Chromium tab that collects every JavaScript error:
// uncaught exceptions, console.error calls and error entries of the browser
// log (failed loads included).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // the test may run as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first call starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	// Answer "OK" to confirm dialogs (deleting a topic asks), as a user would.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(t *testing.T, timeout time.Duration, what, expr string) {
	t.Helper()
	waitFor(t, timeout, what, func() bool { return evalJS[bool](t, b, "Boolean("+expr+")") })
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
}

func (b *browser) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// TestConsoleShowsDemoInChromium is what a user does: start `wisp demo`
// with three agents, open the printed console URL, and look at the three
// pages.
func TestConsoleShowsDemoInChromium(t *testing.T) {
	b := newBrowser(t)
	demo := startDemo(t, "--agents", "3", "--duration", "10m", "--rate", "300")
	b.do(t, chromedp.Navigate(demo.consoleURL))

	// Overview: the three agents, one Raft leader, and live charts.
	b.waitJS(t, 30*time.Second, "three agents with one leader on the overview",
		`document.querySelectorAll("#agents tbody tr").length === 3 && document.querySelectorAll("#agents td.role-leader").length === 1`)
	b.waitJS(t, 30*time.Second, "a non-empty produce throughput chart",
		`Number(document.querySelector("#chart-mib").dataset.max) > 0 && document.querySelectorAll("#chart-records path.series").length === 2`)
	t.Logf("traffic on the console %s after the demo printed its URL", time.Since(demo.printedAt).Round(100*time.Millisecond))
	b.waitJS(t, 30*time.Second, "object-store PUTs per second and a cost estimate",
		`Number(document.querySelector("#chart-objstore").dataset.max) > 0 && document.querySelector("#cost-total").textContent.startsWith("$")`)

	// Topics: the demo topic's high watermark rises while we watch.
	b.do(t, chromedp.Navigate(demo.consoleURL+"#/topics"))
	hwExpr := `Number((document.querySelector('[data-topic="demo"]') || {dataset: {}}).dataset.hwTotal || 0)`
	b.waitJS(t, 30*time.Second, "the demo topic with records", hwExpr+` > 0`)
	first := evalJS[int64](t, b, hwExpr)
	b.waitJS(t, 30*time.Second, "the demo topic's high watermark rising", fmt.Sprintf("%s > %d", hwExpr, first))
	partitions := evalJS[int](t, b, `document.querySelectorAll('[data-topic="demo"] tbody tr').length`)
	if partitions != 6 {
		t.Fatalf("the demo topic shows %d partitions, want 6", partitions)
	}
	b.screenshot(t, "console-topics.png")

	// Create a topic from the form, then delete it with its button.
	b.do(t, chromedp.SendKeys(chromedp.CSS(`#create-topic input[name="name"]`), "from-console"),
		chromedp.Click(chromedp.CSS(`#create-topic button`)))
	b.waitJS(t, 30*time.Second, "the topic created from the form", `document.querySelectorAll('[data-topic="from-console"] tbody tr').length === 3`)
	b.do(t, chromedp.Click(chromedp.CSS(`[data-topic="from-console"] button.danger`)))
	b.waitJS(t, 30*time.Second, "the deleted topic gone from the page", `!document.querySelector('[data-topic="from-console"]') && document.querySelector('[data-topic="demo"]')`)

	// Consumer groups: the demo group, its members, and a lag per partition.
	b.do(t, chromedp.Navigate(demo.consoleURL+"#/groups"))
	group := `document.querySelector('[data-group="demo-consumers"]')`
	b.waitJS(t, 30*time.Second, "the demo consumer group with members and a lag for every partition",
		group+` && Number(`+group+`.dataset.members) === 2 && Array.from(`+group+`.querySelectorAll("td.lag")).filter(td => /^[0-9,]+$/.test(td.textContent)).length === 6`)
	lagText := evalJS[string](t, b, group+`.querySelector(".total-lag").textContent`)
	t.Logf("demo group total lag shown: %s", lagText)
	b.screenshot(t, "console-groups.png")

	// Back to the overview, for a screenshot with some history on the charts.
	b.do(t, chromedp.Navigate(demo.consoleURL+"#/"))
	b.waitJS(t, 30*time.Second, "ten seconds of throughput on the chart", `Number(document.querySelector("#chart-mib").dataset.points) >= 10`)
	b.screenshot(t, "console-overview.png")

	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("the console logged JavaScript errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--agents", "0"}, "--agents"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--kafka-addr", "nope"}, "--kafka-addr"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(wispBinary(t), append([]string{"demo"}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), tc.want) {
				t.Fatalf("wisp demo %v: exit %d (%v), output %q; want exit 2 naming %s", tc.args, code, err, out, tc.want)
			}
		})
	}
}
