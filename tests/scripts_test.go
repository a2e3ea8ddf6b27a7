package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-stream/wisp/cmd/wisp/kcmd"
)

// TestPlaygroundOnStartMinIO runs what the README tells a user to do:
// scripts/start-minio.sh, then `wisp playground --bucket-url s3://…` with its
// exports, kcmd produce and fetch, then scripts/stop-minio.sh.
func TestPlaygroundOnStartMinIO(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("../scripts/start-minio.sh", filepath.Join(dir, "minio")).Output()
	if err != nil {
		t.Fatalf("start-minio.sh: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	t.Cleanup(func() {
		stop := exec.Command("../scripts/stop-minio.sh")
		stop.Env = append(os.Environ(), "WISP_MINIO_PID="+env["WISP_MINIO_PID"], "WISP_MINIO_DATA="+env["WISP_MINIO_DATA"])
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("stop-minio.sh: %v\n%s", err, out)
		}
	})
	for _, k := range []string{"WISP_S3_ENDPOINT", "WISP_S3_ACCESS_KEY", "WISP_S3_SECRET_KEY", "WISP_S3_BUCKET"} {
		if env[k] == "" {
			t.Fatalf("start-minio.sh printed no %s:\n%s", k, out)
		}
		t.Setenv(k, env[k])
	}
	url := "s3://" + env["WISP_S3_BUCKET"] + "/playground?endpoint=" + env["WISP_S3_ENDPOINT"] + "&secure=false&region=us-east-1"
	pg := startPlayground(t, filepath.Join(dir, "data"), "--bucket-url", url)
	runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeCreateTopic, Topic: "s3", Partitions: 2})
	runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeProduce, Topic: "s3", Records: "one,,two,,three", Key: "k", Partition: 1})
	pg.interrupt(t)

	// A fresh data dir cannot see the old metadata, so restart on the same
	// one: the records come back from MinIO (the cache starts cold).
	pg = startPlayground(t, filepath.Join(dir, "data"), "--bucket-url", url)
	got := runKcmd(t, pg.kafka, kcmd.Options{Type: kcmd.TypeFetch, Topic: "s3", Partition: 1, MaxRecords: 3, Timeout: 10 * time.Second})
	for _, v := range []string{"one", "two", "three"} {
		if !strings.Contains(got, `value:"`+v+`"`) {
			t.Fatalf("fetch from MinIO lacks %q:\n%s", v, got)
		}
	}
	pg.interrupt(t)
}
