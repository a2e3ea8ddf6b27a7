package miniotest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
)

func open(t *testing.T, url string) objstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := objstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return s
}

func TestStopKillRestartKeepData(t *testing.T) {
	t.Parallel()
	srv := Start(t)
	s := open(t, srv.URL("life"))
	ctx := context.Background()
	if err := s.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	for _, down := range []struct {
		name string
		stop func()
	}{{"Stop", srv.Stop}, {"Kill", srv.Kill}} {
		down.stop()
		down.stop() // idempotent
		if srv.Running() {
			t.Fatalf("Running after %s", down.name)
		}
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Put(short, "b", []byte("2"))
		cancel()
		if err == nil {
			t.Fatalf("Put succeeded with MinIO down after %s", down.name)
		}
		srv.Restart()
		if !srv.Running() {
			t.Fatalf("not Running after Restart")
		}
		got, err := s.Get(ctx, "a", 0, -1)
		if err != nil || string(got) != "1" {
			t.Fatalf("after %s and Restart Get = %q, %v; want the object stored before", down.name, got, err)
		}
	}
	srv.Restart() // while running: stops it first
	if _, err := s.Get(ctx, "a", 0, -1); err != nil {
		t.Fatalf("after restarting a running server: %v", err)
	}
}

func TestServersAreIsolated(t *testing.T) {
	t.Parallel()
	one, two := Start(t), Start(t)
	if one.Endpoint == two.Endpoint || one.SecretKey == two.SecretKey {
		t.Fatalf("two servers share endpoint or credentials: %s %s", one.Endpoint, two.Endpoint)
	}
	ctx := context.Background()
	if err := open(t, one.URL("")).Put(ctx, "k", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if l, err := open(t, two.URL("")).List(ctx, ""); err != nil || len(l) != 0 {
		t.Errorf("second server sees %+v, %v; want an empty bucket", l, err)
	}
	// Each URL got its own server's credentials from the registry: the
	// first server's keys are no good on the second.
	_, err := objstore.OpenS3(ctx, objstore.S3Config{
		Bucket: two.Bucket, Endpoint: two.Endpoint, Insecure: true, Region: "us-east-1",
		Credentials: &objstore.S3Credentials{AccessKey: one.AccessKey, SecretKey: one.SecretKey},
	})
	if !errors.Is(err, objstore.ErrCredentials) {
		t.Errorf("first server's credentials on the second: %v, want ErrCredentials", err)
	}
	env := strings.Join(two.Env(), " ")
	for _, want := range []string{"WISP_S3_ENDPOINT=" + two.Endpoint, "WISP_S3_ACCESS_KEY=" + two.AccessKey, "WISP_S3_SECRET_KEY=" + two.SecretKey, "WISP_S3_BUCKET=wisp"} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() = %q lacks %s", env, want)
		}
	}
}

// fatalRecorder stands in for the test in Start, to observe a Fatalf.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func startFails(t *testing.T) string {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec)
		rec.msg = "(Start returned)"
	}()
	<-done
	return rec.msg
}

// These tests change the environment, so they do not run in parallel.
func TestMissingBinaryFails(t *testing.T) {
	t.Setenv("WISP_MINIO_BIN", "")
	t.Setenv("WISP_CACHE_DIR", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	if msg := startFails(t); !strings.Contains(msg, "MinIO not installed: run scripts/install-minio.sh") {
		t.Errorf("Start without MinIO: %q, want a failure saying how to install it", msg)
	}
	t.Setenv("WISP_MINIO_BIN", "/nonexistent/minio")
	if msg := startFails(t); !strings.Contains(msg, "WISP_MINIO_BIN=/nonexistent/minio") {
		t.Errorf("Start with a bad WISP_MINIO_BIN: %q, want it named", msg)
	}
}

func TestBinaryFromCache(t *testing.T) {
	cache := t.TempDir()
	want := filepath.Join(cache, "minio", Version, "minio")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WISP_MINIO_BIN", "")
	t.Setenv("WISP_CACHE_DIR", cache)
	if got, err := Binary(); err != nil || got != want {
		t.Errorf("Binary() = %q, %v; want the cached %q", got, err, want)
	}
}

// The scripts and this package must agree on the MinIO version, or Start
// would not find the binary install-minio.sh built.
func TestScriptsPinThisVersion(t *testing.T) {
	for _, script := range []string{"install-minio.sh", "start-minio.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "scripts", script))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `version="`+Version+`"`) {
			t.Errorf("scripts/%s does not pin version=%q", script, Version)
		}
	}
}
