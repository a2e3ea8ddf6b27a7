package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/objstore"
	"github.com/wisp-stream/wisp/objstore/miniotest"
	"github.com/wisp-stream/wisp/objstore/storetest"
)

func TestS3Contract(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	// A prefix per case gives each an empty store in the shared bucket.
	storetest.Run(t, func(t *testing.T) objstore.Store { return openS3(t, srv.URL("contract/"+t.Name())) })
}

func openS3(t *testing.T, url string) objstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := objstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return s
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func TestS3PrefixSharesBucket(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	a := openS3(t, srv.URL("clusters/a"))
	b := openS3(t, srv.URL("clusters/b"))
	root := openS3(t, srv.URL(""))
	put(t, a, "files/1", []byte("from a"))
	put(t, b, "files/1", []byte("from b"))

	if got, err := a.Get(context.Background(), "files/1", 0, -1); err != nil || string(got) != "from a" {
		t.Errorf("a Get = %q, %v", got, err)
	}
	if l, err := b.List(context.Background(), ""); err != nil || len(l) != 1 || l[0].Key != "files/1" {
		t.Errorf("b List = %+v, %v; want only its own files/1, prefix stripped", l, err)
	}
	l, err := root.List(context.Background(), "")
	var keys []string
	for _, o := range l {
		keys = append(keys, o.Key)
	}
	if want := []string{"clusters/a/files/1", "clusters/b/files/1"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("bucket holds %q, %v; want %q", keys, err, want)
	}
	if err := a.Delete(context.Background(), "files/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(context.Background(), "files/1", 0, -1); err != nil {
		t.Errorf("deleting a's object removed b's: %v", err)
	}
}

func TestS3LargeObject(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	s := openS3(t, srv.URL("large"))
	// Bigger than minio-go's default 16 MiB part size: still one PUT.
	data := make([]byte, 20<<20+3)
	_, _ = rand.Read(data)
	put(t, s, "big", data)
	got, err := s.Get(context.Background(), "big", 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(big) = %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
	off := int64(8<<20 - 5)
	got, err = s.Get(context.Background(), "big", off, 4<<20)
	if err != nil || !bytes.Equal(got, data[off:off+4<<20]) {
		t.Fatalf("ranged Get = %d bytes, %v", len(got), err)
	}
	if l, err := s.List(context.Background(), ""); err != nil || len(l) != 1 || l[0].Size != int64(len(data)) {
		t.Fatalf("List = %+v, %v", l, err)
	}
}

func TestS3StringHasNoSecrets(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	s := openS3(t, srv.URL("/team/x/"))
	want := "s3://wisp/team/x?endpoint=" + srv.Endpoint + "&region=us-east-1&secure=false"
	if s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
	if strings.Contains(s.String(), srv.SecretKey) || strings.Contains(s.String(), srv.AccessKey) {
		t.Errorf("String() %q leaks credentials", s.String())
	}
}

// TestS3RetryAcrossOutage kills MinIO under a retrying store: requests fail
// while it is down, and one in flight when it comes back succeeds.
func TestS3RetryAcrossOutage(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	raw := openS3(t, srv.URL("outage"))
	put(t, raw, "before", []byte("kept"))

	srv.Kill()
	quick := objstore.NewRetrying(raw, objstore.RetryConfig{Attempts: 2, Backoff: time.Millisecond, Timeout: 2 * time.Second}, nil)
	err := quick.Put(context.Background(), "during", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "after 2 attempts") || !strings.Contains(err.Error(), `"during"`) {
		t.Fatalf("Put with MinIO down = %v, want a failure after 2 attempts naming the key", err)
	}

	patient := objstore.NewRetrying(raw, objstore.RetryConfig{Attempts: 1000, Backoff: 20 * time.Millisecond, Timeout: 2 * time.Second}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- patient.Put(ctx, "across", []byte("made it")) }()
	srv.Restart()
	if err := <-done; err != nil {
		t.Fatalf("Put retried across the restart: %v", err)
	}
	for key, want := range map[string]string{"before": "kept", "across": "made it"} {
		if got, err := patient.Get(ctx, key, 0, -1); err != nil || string(got) != want {
			t.Errorf("after restart Get(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestS3BadURLs(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"s3://", "s3://BUCKET"},
		{"s3:bucket", "s3://BUCKET"},
		{"s3://user:pass@bucket", "credentials do not belong in the URL"},
		{"s3://Bad_Bucket", `bucket name "Bad_Bucket"`},
		{"s3://b?endpont=x:1", `unknown parameter "endpont"`},
		{"s3://bucket?secure=maybe", `secure="maybe"`},
		{"s3://bucket?style=dns", `style "dns"`},
		{"s3://bucket?endpoint=http://h:9000", "without scheme"},
		{"s3://bucket/a//b", "prefix"},
		{"s3://bucket/../x", "prefix"},
		{"s3://bucket?region=a&region=b", `"region" given 2 times`},
	}
	for _, tc := range tests {
		_, err := objstore.Open(context.Background(), tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error mentioning %s", tc.url, err, tc.want)
		}
	}
}

// openErr opens url with the agent's kind of deadline and checks the error
// is one line wrapping kind and saying each of want.
func openErr(t *testing.T, url string, timeout time.Duration, kind error, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := objstore.Open(ctx, url)
	if err == nil {
		t.Fatalf("Open(%s) = %v, want an error", url, s)
	}
	t.Logf("Open error: %v", err)
	if !errors.Is(err, kind) {
		t.Errorf("Open(%s) err = %v, want it to wrap %v", url, err, kind)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("Open(%s) error spans lines: %q", url, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Open(%s) error %q does not say %q", url, err, w)
		}
	}
}

func TestS3OpenErrors(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	t.Run("bucket missing", func(t *testing.T) {
		url := strings.Replace(srv.URL(""), "s3://wisp", "s3://no-such-bucket", 1)
		openErr(t, url, 15*time.Second, objstore.ErrBucketNotFound,
			`bucket "no-such-bucket" does not exist at `+srv.Endpoint, "create it first")
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		l.Close()
		objstore.SetS3Credentials(closed, objstore.S3Credentials{AccessKey: "a", SecretKey: "b"})
		defer objstore.SetS3Credentials(closed, objstore.S3Credentials{})
		openErr(t, "s3://wisp?secure=false&region=us-east-1&endpoint="+closed, 15*time.Second, objstore.ErrUnreachable,
			"cannot reach "+closed, "connection refused")
	})
	t.Run("no answer", func(t *testing.T) {
		// Accepts connections and never answers: only the deadline ends Open.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		addr := l.Addr().String()
		objstore.SetS3Credentials(addr, objstore.S3Credentials{AccessKey: "a", SecretKey: "b"})
		defer objstore.SetS3Credentials(addr, objstore.S3Credentials{})
		openErr(t, "s3://wisp?secure=false&region=us-east-1&endpoint="+addr, 300*time.Millisecond, objstore.ErrUnreachable,
			"cannot reach "+addr, "deadline")
	})
}

// TestS3Credentials changes the environment, so it cannot run in parallel.
func TestS3Credentials(t *testing.T) {
	srv := miniotest.Start(t)
	// No region: the client must look it up, signed with whatever
	// credentials it found, as for a user who leaves the region out.
	url := strings.Replace(srv.URL("creds"), "&region=us-east-1", "", 1)
	// Forget what miniotest registered, so the environment decides.
	objstore.SetS3Credentials(srv.Endpoint, objstore.S3Credentials{})
	home := t.TempDir()
	clean := map[string]string{
		"WISP_S3_ACCESS_KEY": "", "WISP_S3_SECRET_KEY": "", "WISP_S3_SESSION_TOKEN": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_ACCESS_KEY": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SECRET_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"), "AWS_CONFIG_FILE": filepath.Join(home, "none"),
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		// Instance metadata at a closed local port: refused at once instead
		// of waiting on 169.254.169.254.
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds",
		"HOME":                               home,
	}
	setenv := func(t *testing.T, kv map[string]string) {
		for k, v := range clean {
			t.Setenv(k, v)
		}
		for k, v := range kv {
			t.Setenv(k, v)
		}
	}
	credFile := filepath.Join(home, "credentials")
	err := os.WriteFile(credFile, fmt.Appendf(nil, "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrongwrong\n\n[wisp]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	works := []struct {
		name string
		env  map[string]string
	}{
		{"WISP_S3 env", map[string]string{"WISP_S3_ACCESS_KEY": srv.AccessKey, "WISP_S3_SECRET_KEY": srv.SecretKey}},
		{"WISP_S3 env beats AWS env", map[string]string{"WISP_S3_ACCESS_KEY": srv.AccessKey, "WISP_S3_SECRET_KEY": srv.SecretKey,
			"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrongwrong"}},
		{"AWS env", map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}},
		{"shared credentials file and profile", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": credFile, "AWS_PROFILE": "wisp"}},
	}
	for _, tc := range works {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env)
			s := openS3(t, url)
			put(t, s, "k", []byte(tc.name))
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		setenv(t, map[string]string{"WISP_S3_ACCESS_KEY": "nobody", "WISP_S3_SECRET_KEY": srv.SecretKey})
		openErr(t, url, 15*time.Second, objstore.ErrCredentials,
			"credentials rejected by "+srv.Endpoint, "InvalidAccessKeyId", "set WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY")
	})
	t.Run("wrong secret", func(t *testing.T) {
		setenv(t, map[string]string{"WISP_S3_ACCESS_KEY": srv.AccessKey, "WISP_S3_SECRET_KEY": "not-the-secret"})
		openErr(t, url, 15*time.Second, objstore.ErrCredentials,
			"credentials rejected by "+srv.Endpoint, "SignatureDoesNotMatch")
	})
	t.Run("default profile is wrong", func(t *testing.T) {
		setenv(t, map[string]string{"AWS_SHARED_CREDENTIALS_FILE": credFile})
		openErr(t, url, 15*time.Second, objstore.ErrCredentials, "credentials rejected by "+srv.Endpoint)
	})
	t.Run("half set", func(t *testing.T) {
		setenv(t, map[string]string{"WISP_S3_ACCESS_KEY": srv.AccessKey})
		openErr(t, url, 15*time.Second, objstore.ErrCredentials, "WISP_S3_ACCESS_KEY and WISP_S3_SECRET_KEY must be set together")
	})
	t.Run("none", func(t *testing.T) {
		setenv(t, nil)
		openErr(t, url, 15*time.Second, objstore.ErrCredentials, "no S3 credentials found for "+srv.Endpoint, "WISP_S3_ACCESS_KEY")
	})
	t.Run("registered beats env", func(t *testing.T) {
		setenv(t, map[string]string{"WISP_S3_ACCESS_KEY": "nobody", "WISP_S3_SECRET_KEY": "wrongwrong"})
		objstore.SetS3Credentials(srv.Endpoint, objstore.S3Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		defer objstore.SetS3Credentials(srv.Endpoint, objstore.S3Credentials{})
		put(t, openS3(t, url), "k", []byte("registered"))
	})
}

// TestS3OpenWaitsForStartingServer: a server answering 503 (MinIO says
// XMinioServerNotInitialized while it loads) is asked again until the open
// deadline, so agents started together with their bucket need no restart.
func TestS3OpenWaitsForStartingServer(t *testing.T) {
	t.Parallel()
	var heads, readyAfter atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.URL.Path != "/wisp/" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		if heads.Add(1) <= readyAfter.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	endpoint := strings.TrimPrefix(srv.URL, "http://")
	objstore.SetS3Credentials(endpoint, objstore.S3Credentials{AccessKey: "a", SecretKey: "b"})
	defer objstore.SetS3Credentials(endpoint, objstore.S3Credentials{})
	url := "s3://wisp?secure=false&region=us-east-1&endpoint=" + endpoint

	readyAfter.Store(2)
	openS3(t, url)
	if n := heads.Load(); n != 3 {
		t.Errorf("Open asked %d times, want 3 (two 503s, then 200)", n)
	}

	heads.Store(0)
	readyAfter.Store(1 << 40)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := objstore.Open(ctx, url)
	t.Logf("Open error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), endpoint) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Open of a server stuck at 503 = %v, want one line naming the endpoint and the 503", err)
	}
}
