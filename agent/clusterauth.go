package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster authentication. With --cluster-secret, every agent-to-agent path
// proves that both ends know the secret, so a process that is not a member
// cannot join gossip, take part in Raft, commit through the forwarding RPC
// or read blocks from the shared cache:
//
//   - gossip: memberlist's AES-GCM keyring, keyed by a key derived from the
//     secret (a non-member can neither read nor inject gossip);
//   - Raft: a challenge-response handshake on every TCP stream (raftauth.go);
//   - internal HTTP (forwarded writes, leave, commit index, cache blocks):
//     every request carries an HMAC-SHA256 signature (this file).
//
// Each path gets its own key, derived from the secret with HMAC-SHA256 and
// a purpose label, so a key recovered from one path (or reused elsewhere)
// says nothing about the others.
//
// Why signed requests rather than a bearer token derived from the secret:
// agent-to-agent HTTP is plain HTTP. A bearer token seen once on the wire
// would let the observer forge any request forever. A signature covers the
// method, the path and query, a timestamp, a nonce and the body's hash, so
// what an observer can replay is that exact request, within the allowed
// clock skew; state-changing requests (POST) are also remembered for that
// window and refused a second time. Responses and the bytes after the Raft
// handshake are not encrypted: the secret authenticates members, it does
// not hide metadata from someone who can read the network (use a private
// network or a VPN for that).

// minSecretLen keeps the secret out of reach of a guessing attack against a
// captured signature.
const minSecretLen = 16

// Purpose labels of the derived keys. Changing one splits a cluster.
const (
	purposeGossip = "wisp gossip key v1"
	purposeHTTP   = "wisp internal http v1"
	purposeRaft   = "wisp raft handshake v1"
)

// deriveKey returns the 32-byte key for purpose from the cluster secret.
func deriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// validateClusterSecret reads --cluster-secret-file into ClusterSecret and
// checks the secret.
func (c *Config) validateClusterSecret() error {
	if c.ClusterSecretFile != "" {
		if c.ClusterSecret != "" {
			return &FlagError{Flag: "cluster-secret-file", Err: errors.New("give the secret either inline (--cluster-secret / WISP_CLUSTER_SECRET) or in a file, not both")}
		}
		b, err := os.ReadFile(c.ClusterSecretFile)
		if err != nil {
			return &FlagError{Flag: "cluster-secret-file", Err: fmt.Errorf("cannot read the cluster secret: %w", err)}
		}
		c.ClusterSecret = strings.TrimSpace(string(b))
		if c.ClusterSecret == "" {
			return &FlagError{Flag: "cluster-secret-file", Err: fmt.Errorf("%s is empty", c.ClusterSecretFile)}
		}
	}
	if c.ClusterSecret != "" && len(c.ClusterSecret) < minSecretLen {
		return &FlagError{Flag: "cluster-secret", Err: fmt.Errorf("must be at least %d characters (e.g. `head -c 32 /dev/urandom | base64`)", minSecretLen)}
	}
	return nil
}

// warnUnauthenticated logs when agent-to-agent ports are reachable beyond
// this machine and nothing authenticates their traffic.
func warnUnauthenticated(cfg *Config, log *slog.Logger) {
	if cfg.ClusterSecret != "" {
		return
	}
	var exposed []string
	for _, p := range []struct{ name, addr string }{{"raft", cfg.RaftAddr}, {"gossip", cfg.GossipAddr}, {"http", cfg.HTTPAddr}} {
		if !isLoopback(p.addr) {
			exposed = append(exposed, p.name+"="+p.addr)
		}
	}
	if len(exposed) == 0 {
		return
	}
	if cfg.GossipKey != "" && len(exposed) == 1 && strings.HasPrefix(exposed[0], "gossip=") {
		return // gossip is keyed; nothing else is exposed
	}
	log.Warn("agent-to-agent traffic is not authenticated and listens beyond loopback: any process that can reach these ports can join the cluster, commit metadata and read cached data; set the same --cluster-secret on every agent",
		"listeners", strings.Join(exposed, " "))
}

// isLoopback reports whether addr binds loopback only. An empty or
// unspecified host binds every interface; a name is resolved.
func isLoopback(addr string) bool {
	host := hostOf(addr)
	if host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// Internal HTTP request signatures.
const (
	authScheme = "WISP-HMAC-SHA256"
	// maxClockSkew is how far a request's timestamp may be from the
	// receiver's clock: agents must keep their clocks in step (NTP).
	maxClockSkew = 30 * time.Second
	// maxSignedBody bounds what the verifier reads to check a body hash;
	// the forwarding RPC carries at most this much.
	maxSignedBody = 64 << 20
)

// stringToSign is what a signature covers. requestURI is the request target
// as sent on the wire (path and query).
func stringToSign(method, requestURI, ts, nonce string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(authScheme + "\n" + method + "\n" + requestURI + "\n" + ts + "\n" + nonce + "\n" + hex.EncodeToString(sum[:]))
}

func sign(key []byte, method, requestURI, ts, nonce string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(stringToSign(method, requestURI, ts, nonce, body))
	return hex.EncodeToString(m.Sum(nil))
}

// signingTransport signs every request it sends with the cluster's HTTP key.
type signingTransport struct {
	key  []byte
	next http.RoundTripper
}

func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body to sign it: %w", err)
		}
	}
	var nb [16]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := hex.EncodeToString(nb[:])
	out := req.Clone(req.Context())
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}
	out.Header.Set("Authorization", fmt.Sprintf("%s t=%s,n=%s,s=%s", authScheme, ts, nonce,
		sign(t.key, out.Method, out.URL.RequestURI(), ts, nonce, body)))
	return t.next.RoundTrip(out)
}

// httpAuth verifies signed internal requests. A nil *httpAuth (no cluster
// secret) lets every request through, as before the secret existed, but
// still counts it.
type httpAuth struct {
	key []byte
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // signatures of POSTs, until they leave the skew window
	next time.Time            // next sweep of seen

	counts   sync.Map // route+"\x00"+result -> *atomic.Int64
	lastWarn atomic.Int64
}

func newHTTPAuth(cfg *Config, log *slog.Logger) *httpAuth {
	a := &httpAuth{log: log, now: time.Now, seen: map[string]time.Time{}}
	if cfg.ClusterSecret != "" {
		a.key = deriveKey(cfg.ClusterSecret, purposeHTTP)
	}
	return a
}

func (a *httpAuth) count(route, result string) {
	v, _ := a.counts.LoadOrStore(route+"\x00"+result, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// snapshot returns the counters by route and result.
func (a *httpAuth) snapshot() map[[2]string]int64 {
	out := map[[2]string]int64{}
	a.counts.Range(func(k, v any) bool {
		route, result, _ := strings.Cut(k.(string), "\x00")
		out[[2]string{route, result}] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// authError is a refused request: the status and what the caller should do.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// protect wraps an internal route: only requests signed with the cluster's
// key get through (when there is one).
func (a *httpAuth) protect(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.key == nil {
			a.count(route, "ok")
			h.ServeHTTP(w, r)
			return
		}
		body, err := a.verify(r)
		if err != nil {
			a.count(route, "refused")
			var ae *authError
			if !errors.As(err, &ae) {
				ae = &authError{http.StatusBadRequest, err.Error()}
			}
			a.warn(r, ae)
			if ae.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", authScheme)
			}
			http.Error(w, "wisp: internal request refused: "+ae.msg, ae.status)
			return
		}
		a.count(route, "ok")
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// verify checks r's signature and returns its body, read in full.
func (a *httpAuth) verify(r *http.Request) ([]byte, error) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return nil, &authError{http.StatusUnauthorized, "this agent requires agent-to-agent authentication and the request is not signed: set the same --cluster-secret on every agent"}
	}
	scheme, params, _ := strings.Cut(hdr, " ")
	if scheme != authScheme {
		return nil, &authError{http.StatusUnauthorized, fmt.Sprintf("authorization scheme %q is not %s: set the same --cluster-secret on every agent", scheme, authScheme)}
	}
	var ts, nonce, sig string
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "t":
			ts = v
		case "n":
			nonce = v
		case "s":
			sig = v
		}
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(nonce) != 32 || len(sig) != 64 {
		return nil, &authError{http.StatusUnauthorized, "malformed " + authScheme + " authorization header"}
	}
	now := a.now()
	sent := time.UnixMilli(ms)
	if skew := now.Sub(sent); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, &authError{http.StatusForbidden, fmt.Sprintf("request signed at %s, %s away from this agent's clock (allowed ±%s): keep agents' clocks synchronised (NTP)",
			sent.UTC().Format(time.RFC3339), skew.Round(time.Millisecond), maxClockSkew)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) > maxSignedBody {
		return nil, &authError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxSignedBody)}
	}
	want := sign(a.key, r.Method, r.RequestURI, ts, nonce, body)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) {
		return nil, &authError{http.StatusForbidden, "signature does not match this cluster's secret: every agent needs the same --cluster-secret"}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := a.remember(sig, sent, now); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// remember refuses a state-changing request seen before. Entries live as
// long as their timestamp is acceptable, so the map holds at most the
// signed POSTs of one skew window.
func (a *httpAuth) remember(sig string, sent, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.After(a.next) {
		for s, exp := range a.seen {
			if now.After(exp) {
				delete(a.seen, s)
			}
		}
		a.next = now.Add(time.Second)
	}
	if _, dup := a.seen[sig]; dup {
		return &authError{http.StatusForbidden, "replayed request (this signature was already used)"}
	}
	a.seen[sig] = sent.Add(maxClockSkew)
	return nil
}

// warn logs a refused request, at most once every 10 seconds: a flood of
// them must not flood the log.
func (a *httpAuth) warn(r *http.Request, e *authError) {
	now := time.Now().Unix()
	if last := a.lastWarn.Load(); now-last < 10 || !a.lastWarn.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("refused an agent-to-agent request", "remote", r.RemoteAddr, "path", r.URL.Path, "status", e.status, "reason", e.msg)
}

// peerTransport wraps the agent-to-agent HTTP transport so every request is
// signed when the cluster has a secret.
func peerTransport(cfg *Config, rt http.RoundTripper) http.RoundTripper {
	if cfg.ClusterSecret == "" {
		return rt
	}
	return &signingTransport{key: deriveKey(cfg.ClusterSecret, purposeHTTP), next: rt}
}
