package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-stream/wisp/cache"
	"github.com/wisp-stream/wisp/objstore"
)

// rawPut measures the bucket itself, with the same store implementation the
// agents use: first RawPutSize objects with RawPutInflight uploads in flight
// (bandwidth), then, one at a time, objects of the size an agent uploads at
// the fixed rate (rate x flush interval / agents), whose p99 is the floor of
// the produce latency targets. The objects are deleted afterwards.
func (b *bencher) rawPut(ctx context.Context) (*RawPut, error) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := objstore.Open(octx, b.o.RawPutURL)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("raw PUT measurement: %w", err)
	}
	prefix := fmt.Sprintf("bench-raw/%s-%d/", b.tag, time.Now().UnixNano())
	data := payload(int(b.o.RawPutSize))
	defer b.deletePrefix(ctx, st, prefix)

	lat, elapsed, err := putLoop(ctx, st, prefix+"bw", data, max(1, b.o.RawPutInflight), b.o.RawPutDuration)
	if err != nil {
		return nil, err
	}
	out := &RawPut{
		ObjectBytes: b.o.RawPutSize, Inflight: max(1, b.o.RawPutInflight),
		MiBps: float64(int64(len(lat))*b.o.RawPutSize) / (1 << 20) / elapsed.Seconds(),
		P50Ms: ms(quantile(lat, 0.50)), P99Ms: ms(quantile(lat, 0.99)),
	}
	if out.GetMiBps, err = getLoop(ctx, st, prefix+"bw", rawGetRange, rawGetInflight, b.o.RawPutDuration); err != nil {
		return nil, err
	}
	out.GetRangeBytes, out.GetInflight = rawGetRange, rawGetInflight
	small := int64(float64(b.o.RateBytes) * b.o.FlushInterval.Seconds() / float64(max(1, b.o.Agents)))
	small = min(max(small, 1024), b.o.RawPutSize)
	lat, _, err = putLoop(ctx, st, prefix+"small", data[:small], 1, b.o.RawPutDuration)
	if err != nil {
		return nil, err
	}
	out.SmallObjectBytes, out.SmallP50Ms, out.SmallP99Ms = small, ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99))
	return out, nil
}

// putLoop PUTs data under new keys from inflight workers for d and returns
// the sorted latencies and the elapsed time.
func putLoop(ctx context.Context, st objstore.Store, prefix string, data []byte, inflight int, d time.Duration) ([]time.Duration, time.Duration, error) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
		fail firstErr
	)
	start := time.Now()
	for w := range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < d && !fail.set.Load(); i++ {
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				err := st.Put(pctx, fmt.Sprintf("%s-%d-%d", prefix, w, i), data)
				cancel()
				if err != nil {
					fail.put(fmt.Errorf("raw PUT of %d bytes to %s: %w", len(data), st, err))
					return
				}
				mu.Lock()
				lats = append(lats, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fail.err != nil {
		return nil, 0, fail.err
	}
	sortDurations(lats)
	return lats, time.Since(start), nil
}

// The raw GET probe reads in the agents' cache blocks, with as many in
// flight as a catching-up fetch of a few partitions asks the cache for.
const (
	rawGetRange    = cache.DefaultBlockSize
	rawGetInflight = 8
)

// getLoop reads the objects under prefix back in ranges of rangeBytes from
// inflight workers, round and round, for d, and returns the bandwidth.
func getLoop(ctx context.Context, st objstore.Store, prefix string, rangeBytes int64, inflight int, d time.Duration) (float64, error) {
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("raw GET: list %s: %w", prefix, err)
	}
	type piece struct {
		key    string
		off, n int64
	}
	var pieces []piece
	for _, o := range objs {
		for off := int64(0); off < o.Size; off += rangeBytes {
			pieces = append(pieces, piece{o.Key, off, min(rangeBytes, o.Size-off)})
		}
	}
	if len(pieces) == 0 {
		return 0, fmt.Errorf("raw GET: nothing under %s to read", prefix)
	}
	var (
		next, total atomic.Int64
		wg          sync.WaitGroup
		fail        firstErr
	)
	start := time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d && !fail.set.Load() {
				p := pieces[int(next.Add(1)-1)%len(pieces)]
				gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				data, err := st.Get(gctx, p.key, p.off, p.n)
				cancel()
				if err != nil {
					fail.put(fmt.Errorf("raw GET of %s [%d,+%d) from %s: %w", p.key, p.off, p.n, st, err))
					return
				}
				total.Add(int64(len(data)))
			}
		}()
	}
	wg.Wait()
	if fail.err != nil {
		return 0, fail.err
	}
	return float64(total.Load()) / (1 << 20) / time.Since(start).Seconds(), nil
}

func (b *bencher) deletePrefix(ctx context.Context, st objstore.Store, prefix string) {
	objs, err := st.List(ctx, prefix)
	for _, o := range objs {
		if err == nil {
			err = st.Delete(ctx, o.Key)
		}
	}
	if err != nil {
		b.say("could not delete the raw PUT objects under %s: %v", prefix, err)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// scrapeSum adds up one Prometheus series (name with its labels exactly as
// exposed, e.g. `wisp_objstore_requests_total{op="put"}`) over every URL.
func scrapeSum(ctx context.Context, urls []string, series string) (float64, error) {
	var sum float64
	for _, u := range urls {
		v, err := scrape(ctx, u, series)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

func scrape(ctx context.Context, u, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("metrics URL %q: %w", u, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w (is the agent's HTTP listener there?)", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape %s: HTTP %s", u, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				return 0, fmt.Errorf("scrape %s: %q: %w", u, line, err)
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrape %s: %w", u, err)
	}
	return 0, fmt.Errorf("scrape %s: no series %s (is this a Wisp agent?)", u, series)
}

// sampleRSS samples the resident memory of o.PIDs every 200ms until the
// returned function is called, which returns the highest RSS any one of
// them had (0 without PIDs).
func (b *bencher) sampleRSS() func() int64 {
	var peak int64
	sample := func() {
		for _, pid := range b.o.PIDs {
			if v, err := readRSS(pid); err == nil {
				peak = max(peak, v)
			}
		}
	}
	sample()
	stop := every(200*time.Millisecond, sample)
	return func() int64 {
		stop()
		sample()
		return peak
	}
}

// readRSS reads VmRSS of a process from /proc (Linux).
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("RSS of pid %d: %w", pid, err)
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// startProfiles asks every agent in PprofURLs for a CPU and an allocation
// profile covering the next PprofDuration and writes them to PprofDir as
// SYSTEM-agentN-cpu.pprof and SYSTEM-agentN-allocs.pprof. The returned
// function waits for them.
func (b *bencher) startProfiles(ctx context.Context) func() error {
	secs := max(1, int(math.Ceil(b.o.PprofDuration.Seconds())))
	client := &http.Client{Timeout: time.Duration(secs)*time.Second + time.Minute}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	if err := os.MkdirAll(b.o.PprofDir, 0o755); err != nil {
		return func() error { return fmt.Errorf("pprof output dir: %w", err) }
	}
	b.say("taking %ds CPU and allocation profiles of %d agent(s) into %s", secs, len(b.o.PprofURLs), b.o.PprofDir)
	for i, base := range b.o.PprofURLs {
		for kind, name := range map[string]string{"profile": "cpu", "allocs": "allocs"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := strings.TrimSuffix(base, "/") + "/debug/pprof/" + kind + "?seconds=" + strconv.Itoa(secs)
				path := filepath.Join(b.o.PprofDir, fmt.Sprintf("%s-agent%d-%s.pprof", b.o.System, i+1, name))
				if err := download(ctx, client, u, path); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}
	return func() error { wg.Wait(); return errors.Join(errs...) }
}

func download(ctx context.Context, client *http.Client, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("pprof %s: HTTP %s: %s (was the agent started with --pprof?)", u, resp.Status, strings.TrimSpace(string(body)))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("pprof output: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("pprof %s: %w", u, err)
	}
	return f.Close()
}

// redactURL drops a URL's query (it may name credentials-bearing endpoints)
// for progress lines.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(bucket)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}
