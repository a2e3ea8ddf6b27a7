// Package miniotest runs a real MinIO server for Go tests, one process per
// Start call, so that s3:// code is tested against a real S3 implementation
// rather than a mock.
//
// The MinIO binary comes from WISP_MINIO_BIN, else from the cache that
// scripts/install-minio.sh fills, else from PATH. A missing binary fails the
// test (never skips it): a silently skipped S3 suite looks like a green one.
//
// Start registers the server's credentials with objstore.SetS3Credentials for
// its endpoint, so objstore.Open(srv.URL(prefix)) works in parallel tests
// without touching the environment. Subprocesses get them from Env.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wisp-stream/wisp/objstore"
)

// Version is the MinIO release scripts/install-minio.sh builds; keep the two
// in step.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Bucket is the bucket Start creates.
const Bucket = "wisp"

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	launchTries  = 3
)

// Server is one running MinIO process. Its methods are meant to be called
// from the test's goroutine.
type Server struct {
	// Endpoint is 127.0.0.1:PORT; it stays the same across Restart.
	Endpoint  string
	AccessKey string
	SecretKey string
	// Bucket exists once Start returns.
	Bucket string
	// DataDir holds the MinIO drive (DataDir/data) and its log (DataDir/minio.log).
	DataDir string

	t           testing.TB
	bin         string
	consoleAddr string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not running
	exited chan struct{} // closed when cmd has been waited for
}

// Binary returns the MinIO binary Start would use, or an error saying how to
// install one.
func Binary() (string, error) {
	if p := os.Getenv("WISP_MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("WISP_MINIO_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	cache := os.Getenv("WISP_CACHE_DIR")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "wisp")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "minio", Version, "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("MinIO not installed: run scripts/install-minio.sh (or set WISP_MINIO_BIN)")
}

// Start launches a fresh MinIO on free loopback ports with an empty data
// directory and creates Bucket. The server is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	s := &Server{
		AccessKey: "wisp-" + randHex(4),
		SecretKey: randHex(16),
		Bucket:    Bucket,
		DataDir:   t.TempDir(),
		t:         t,
		bin:       bin,
	}
	// Registered after TempDir, so it runs first: the process is gone
	// before its data directory is removed.
	t.Cleanup(s.Kill)
	for try := 1; ; try++ {
		s.Endpoint, s.consoleAddr = freeAddr(t), freeAddr(t)
		err = s.launch()
		if err == nil {
			break
		}
		// Another process may have taken a port between our probe and
		// MinIO's bind; new ports fix that, nothing else is worth a retry.
		if try == launchTries {
			t.Fatalf("miniotest: %v", err)
		}
	}
	if err := s.makeBucket(); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	objstore.SetS3Credentials(s.Endpoint, objstore.S3Credentials{AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	t.Cleanup(func() { objstore.SetS3Credentials(s.Endpoint, objstore.S3Credentials{}) })
	return s
}

// URL returns an s3:// bucket URL for this server with the given key prefix
// ("" for none), ready for objstore.Open.
func (s *Server) URL(prefix string) string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p = "/" + p
	}
	return fmt.Sprintf("s3://%s%s?endpoint=%s&region=us-east-1&secure=false", s.Bucket, p, s.Endpoint)
}

// Env returns WISP_S3_ENDPOINT, WISP_S3_ACCESS_KEY, WISP_S3_SECRET_KEY and
// WISP_S3_BUCKET as KEY=VALUE lines, for agents run as subprocesses.
func (s *Server) Env() []string {
	return []string{
		"WISP_S3_ENDPOINT=" + s.Endpoint,
		"WISP_S3_ACCESS_KEY=" + s.AccessKey,
		"WISP_S3_SECRET_KEY=" + s.SecretKey,
		"WISP_S3_BUCKET=" + s.Bucket,
	}
}

// Stop shuts MinIO down gracefully (SIGTERM, then SIGKILL after 10 s) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends MinIO abruptly (SIGKILL), like a crash or a lost host, and waits
// for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Running reports whether the MinIO process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Restart starts MinIO again on the same ports and data directory, stopping
// it first if it is running, and waits until it serves requests. Objects
// stored before survive. It fails the test if MinIO does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.launch(); err != nil {
		s.t.Fatalf("miniotest: restart: %v", err)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// launch starts the process and waits until it serves requests. On failure
// the process is gone and the error quotes the end of its log.
func (s *Server) launch() error {
	logPath := filepath.Join(s.DataDir, "minio.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(s.bin, "server", "--quiet",
		"--address", s.Endpoint, "--console-address", s.consoleAddr,
		"--certs-dir", filepath.Join(s.DataDir, "certs"),
		filepath.Join(s.DataDir, "data"))
	cmd.Env = append(environWithoutMinIO(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := waitReady(s.Endpoint, exited); err != nil {
		s.Kill()
		return fmt.Errorf("MinIO at %s: %w; log %s ends with: %s", s.Endpoint, err, logPath, logTail(logPath))
	}
	return nil
}

// waitReady polls /minio/health/cluster, not /minio/health/live: live
// answers 200 as soon as the listener is up, while S3 requests still get 503
// XMinioServerNotInitialized until the object layer and IAM are loaded.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get("http://" + endpoint + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited during start-up")
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v", startTimeout)
		}
	}
}

func (s *Server) makeBucket() error {
	client, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return fmt.Errorf("create bucket %q at %s: %w", s.Bucket, s.Endpoint, err)
	}
	return nil
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// environWithoutMinIO drops MINIO_* variables a developer may have set (such
// as MINIO_VOLUMES), which would change what the server does.
func environWithoutMinIO() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return env
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "(empty)"
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
