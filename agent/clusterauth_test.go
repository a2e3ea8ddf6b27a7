package agent

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "correct horse battery staple"

func TestDeriveKeySeparatesPurposes(t *testing.T) {
	keys := map[string]bool{}
	for _, p := range []string{purposeGossip, purposeHTTP, purposeRaft} {
		k := deriveKey(testSecret, p)
		if len(k) != 32 {
			t.Fatalf("%s key has %d bytes, want 32", p, len(k))
		}
		keys[string(k)] = true
	}
	keys[string(deriveKey(testSecret+"!", purposeHTTP))] = true
	if len(keys) != 4 {
		t.Fatal("derived keys collide across purposes or secrets")
	}
}

// recorder keeps the last request a client sent, so a test can replay it.
type recorder struct {
	mu   sync.Mutex
	last *http.Request
	body []byte
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.last, r.body = req.Clone(req.Context()), body
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) replay(t *testing.T) *http.Response {
	t.Helper()
	r.mu.Lock()
	req := r.last.Clone(r.last.Context())
	req.Body = io.NopCloser(bytes.NewReader(r.body))
	r.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// authServer serves an echo handler behind httpAuth with the given secret.
func authServer(t *testing.T, secret string) (*httptest.Server, *httpAuth) {
	t.Helper()
	auth := newHTTPAuth(&Config{ClusterSecret: secret}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(auth.protect("test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte(r.Method+" "+r.URL.Query().Get("q")+" "), b...))
	})))
	t.Cleanup(srv.Close)
	return srv, auth
}

func peerClient(secret string, rec *recorder) *http.Client {
	rec.next = http.DefaultTransport
	return &http.Client{Transport: peerTransport(&Config{ClusterSecret: secret}, rec)}
}

func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInternalHTTPRequiresClusterSignature(t *testing.T) {
	srv, auth := authServer(t, testSecret)
	var rec recorder
	member := peerClient(testSecret, &rec)

	if code, body := do(t, member, "POST", srv.URL+"/x?q=1", "payload"); code != 200 || body != "POST 1 payload" {
		t.Fatalf("member POST = %d %q, want 200 and the body passed through", code, body)
	}
	if code, body := do(t, member, "GET", srv.URL+"/x?q=2", ""); code != 200 || body != "GET 2 " {
		t.Fatalf("member GET = %d %q", code, body)
	}

	cases := []struct {
		name   string
		client *http.Client
		want   int
		says   string
	}{
		{"no secret", http.DefaultClient, http.StatusUnauthorized, "--cluster-secret"},
		{"wrong secret", peerClient("another secret of enough length", &recorder{}), http.StatusForbidden, "does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.client, "POST", srv.URL+"/x", "commit this")
			if code != tc.want || !strings.Contains(body, tc.says) || strings.Contains(body, "commit this") {
				t.Fatalf("got %d %q, want %d saying %q and the handler not run", code, body, tc.want, tc.says)
			}
		})
	}

	t.Run("replayed POST", func(t *testing.T) {
		if code, _ := do(t, member, "POST", srv.URL+"/x", "once"); code != 200 {
			t.Fatalf("first POST = %d", code)
		}
		resp := rec.replay(t)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "replayed") {
			t.Fatalf("replay = %d %q, want 403 replayed", resp.StatusCode, b)
		}
	})

	t.Run("tampered body and query", func(t *testing.T) {
		do(t, member, "POST", srv.URL+"/x?q=1", "small")
		for _, mutate := range []func(r *http.Request, body *[]byte){
			func(r *http.Request, body *[]byte) { *body = []byte("large") },
			func(r *http.Request, body *[]byte) { r.URL.RawQuery = "q=2" },
			func(r *http.Request, body *[]byte) { r.Method = http.MethodPut },
		} {
			rec.mu.Lock()
			req := rec.last.Clone(rec.last.Context())
			body := bytes.Clone(rec.body)
			rec.mu.Unlock()
			mutate(req, &body)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("tampered request = %d, want 403", resp.StatusCode)
			}
		}
	})

	t.Run("clock skew", func(t *testing.T) {
		auth.now = func() time.Time { return time.Now().Add(2 * maxClockSkew) }
		defer func() { auth.now = time.Now }()
		code, body := do(t, member, "GET", srv.URL+"/x", "")
		if code != http.StatusForbidden || !strings.Contains(body, "NTP") {
			t.Fatalf("skewed request = %d %q, want 403 naming clock sync", code, body)
		}
	})

	counts := auth.snapshot()
	if counts[[2]string{"test", "ok"}] < 3 || counts[[2]string{"test", "refused"}] < 5 {
		t.Fatalf("counters %v do not show the accepted and refused requests", counts)
	}
}

// TestInternalHTTPWithoutSecretIsOpen: without a secret nothing changes.
func TestInternalHTTPWithoutSecretIsOpen(t *testing.T) {
	srv, _ := authServer(t, "")
	if code, body := do(t, http.DefaultClient, "POST", srv.URL+"/x", "b"); code != 200 || body != "POST  b" {
		t.Fatalf("unsigned request to an agent without a secret = %d %q", code, body)
	}
}

func TestClusterSecretValidation(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	os.WriteFile(good, []byte("  "+testSecret+"\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	cases := []struct {
		name, secret, file, flag string
	}{
		{"short", "short", "", "cluster-secret"},
		{"both", testSecret, good, "cluster-secret-file"},
		{"missing file", "", filepath.Join(dir, "nope"), "cluster-secret-file"},
		{"empty file", "", empty, "cluster-secret-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{ClusterSecret: tc.secret, ClusterSecretFile: tc.file}
			var fe *FlagError
			if err := c.validateClusterSecret(); !errors.As(err, &fe) || fe.Flag != tc.flag {
				t.Fatalf("error %v does not name --%s", err, tc.flag)
			}
		})
	}
	c := Config{ClusterSecretFile: good}
	if err := c.validateClusterSecret(); err != nil || c.ClusterSecret != testSecret {
		t.Fatalf("secret file: %v, secret %q", err, c.ClusterSecret)
	}
}

func TestWarnUnauthenticatedBeyondLoopback(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		warn bool
	}{
		{"all loopback", Config{RaftAddr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", HTTPAddr: "localhost:3"}, false},
		{"unspecified raft", Config{RaftAddr: ":1", GossipAddr: "127.0.0.1:2", HTTPAddr: "127.0.0.1:3"}, true},
		{"wildcard http", Config{RaftAddr: "127.0.0.1:1", GossipAddr: "127.0.0.1:2", HTTPAddr: "0.0.0.0:3"}, true},
		{"secret set", Config{RaftAddr: ":1", GossipAddr: ":2", HTTPAddr: ":3", ClusterSecret: testSecret}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			warnUnauthenticated(&tc.cfg, slog.New(slog.NewTextHandler(&buf, nil)))
			if got := strings.Contains(buf.String(), "--cluster-secret"); got != tc.warn {
				t.Fatalf("warned=%v, want %v: %q", got, tc.warn, buf.String())
			}
		})
	}
}
