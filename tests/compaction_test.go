package tests

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wisp-stream/wisp/objstore"
)

// compactionConfig: flushes every 5 ms (many small level-0 files), the
// collector (retention, compaction, dead-file deletion) every second with a
// one-second grace, and the given fan-in (0: no compaction).
func compactionConfig(t testing.TB, fanIn int, st *objstore.Store) agentConfig {
	cfg := testConfig(t, retentionConfig(st), withFlushInterval(5*time.Millisecond))
	cfg.CompactionFanIn = fanIn
	return cfg
}

// produceRounds produces rounds requests of perRound records each, spread
// over partitions, each request acked before the next (so one data file at
// least per round). Values name the round and index.
func produceRounds(ctx context.Context, cl *kgo.Client, topic string, partitions int32, rounds, perRound int) error {
	for r := range rounds {
		recs := make([]*kgo.Record, perRound)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions,
				Key: fmt.Appendf(nil, "k%d", i%97), Value: fmt.Appendf(nil, "r%05d-i%04d-%040d", r, i, r*perRound+i)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
	}
	return nil
}

// readEverything reads every partition of topic from its start to its high
// watermark and returns the records by partition and the seconds it took.
func readEverything(t testing.TB, ta *testAgent, topic string, partitions int32) (map[int32][]*kgo.Record, float64) {
	t.Helper()
	id := topicIDOf(t, ta, topic)
	ends := map[int32]int64{}
	starts := map[int32]kgo.Offset{}
	for p := range partitions {
		info, _ := ta.Metadata().Partition(id, p)
		ends[p] = info.HighWatermark
		starts[p] = kgo.NewOffset().AtStart()
	}
	cl := ta.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	defer cl.Close() // a lingering long-poll fetch would hold up a restart
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, end := range ends {
			rs := out[p]
			if end > 0 && (len(rs) == 0 || rs[len(rs)-1].Offset < end-1) {
				return false
			}
		}
		return true
	}
	start := time.Now()
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("full read of %s timed out: %v", topic, err)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out[r.Partition] = append(out[r.Partition], r) })
	}
	return out, time.Since(start).Seconds()
}

func topicIDOf(t testing.TB, ta *testAgent, topic string) [16]byte {
	t.Helper()
	info, ok := ta.Metadata().Topic(topic)
	if !ok {
		t.Fatalf("topic %s not in the metadata", topic)
	}
	return info.ID
}

// manifestBytes sums the bytes the topic's manifests point at.
func manifestBytes(ta *testAgent, id [16]byte, partitions int32) int64 {
	var n int64
	for p := range partitions {
		info, _ := ta.Metadata().Partition(id, p)
		n += info.Bytes
	}
	return n
}

// sameRecordsAt fails unless got holds exactly want: same offsets, keys,
// values and timestamps in every partition.
func sameRecordsAt(t testing.TB, want, got map[int32][]*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d partitions read, want %d", len(got), len(want))
	}
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Fatalf("partition %d: %d records, want %d", p, len(gs), len(ws))
		}
		for i, w := range ws {
			g := gs[i]
			if g.Offset != w.Offset || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) {
				t.Fatalf("partition %d record %d: got offset %d %q=%q at %v, want offset %d %q=%q at %v",
					p, i, g.Offset, g.Key, g.Value, g.Timestamp, w.Offset, w.Key, w.Value, w.Timestamp)
			}
		}
	}
}

func levelFiles(ta *testAgent, level int32) int {
	for _, l := range ta.Metadata().Levels() {
		if l.Level == level {
			return l.Files
		}
	}
	return 0
}

// TestCompactionShrinksObjectCountKeepsRecords is the scale test: 1,000,000
// records of 100-byte values produced over hundreds of flushes, then
// compaction through both levels. The data files in the bucket fall by at
// least 10x, level 2 holds several entries of a partition per file, no
// entry outgrows maxRunBytes, and a full read returns byte-identical
// records at the same offsets as before (and as acked). GETs are slowed to
// an object store's latency so the logged catch-up throughput shows what the
// object count costs a reader.
func TestCompactionShrinksObjectCountKeepsRecords(t *testing.T) {
	const (
		topic       = "compacted"
		partitions  = 4
		rounds      = 400
		perRound    = 2500
		fanIn       = 4
		getLatency  = 10 * time.Millisecond
		maxRunBytes = 8 << 20 // agent/compaction.go
	)
	var st objstore.Store
	cfg := compactionConfig(t, 0, nil)
	cfg.WrapStore = func(s objstore.Store) objstore.Store {
		st = s
		f := objstore.NewFaulty(s)
		f.SetLatency(objstore.OpGet, getLatency) // an object store's first-byte latency
		return f
	}
	ta := startAgent(t, cfg)
	cl := ta.client(manualPartitioner(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, topic, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Every acked record, by partition in offset order.
	acked := map[int32][]recordDigest{}
	began := time.Now()
	recs := make([]*kgo.Record, perRound)
	for r := range rounds {
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions,
				Key: fmt.Appendf(nil, "k%d", i%97), Value: fmt.Appendf(nil, "r%05d-i%05d-%086d", r, i, r*perRound+i)}
		}
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", r, err)
		}
		for _, pr := range res {
			rec := pr.Record
			acked[rec.Partition] = append(acked[rec.Partition], recordDigest{rec.Offset, digestOf(rec.Key, rec.Value, rec.Timestamp, rec.Headers)})
		}
	}
	for p := range acked {
		slices.SortFunc(acked[p], func(a, b recordDigest) int { return cmp.Compare(a.offset, b.offset) })
	}
	t.Logf("produced %d records in %d acked rounds in %s", rounds*perRound, rounds, time.Since(began).Round(time.Millisecond))
	before := len(dataFiles(t, st))
	if before < rounds {
		t.Fatalf("%d data files after %d acked rounds, want one per round at least", before, rounds)
	}

	// Read with a cold cache (a restart empties it), as a catch-up reader would.
	ta = ta.restart()
	id := topicIDOf(t, ta, topic)
	size := float64(manifestBytes(ta, id, partitions)) / (1 << 20)
	gets := ta.StoreStats()[objstore.OpGet].Requests
	want, secs := digestEverything(t, ta, topic, partitions)
	gets = ta.StoreStats()[objstore.OpGet].Requests - gets
	sameDigestsAt(t, "read before compaction vs acks", acked, want)
	t.Logf("before compaction: %d data files; full catch-up read of %d records (%.1f MiB) with %d GETs (%s each) in %.2fs = %.1f MiB/s",
		before, rounds*perRound, size, gets, getLatency, secs, size/secs)

	ta.cfg.CompactionFanIn = fanIn
	ta = ta.restart()
	began = time.Now()
	var m func(name, label, value string) float64
	waitFor(t, 90*time.Second, "compaction through level 2 to finish and the replaced files to go", func() bool {
		if levelFiles(ta, 0) != 0 || levelFiles(ta, 2) == 0 || len(ta.Metadata().DeadFiles()) != 0 {
			return false
		}
		m = scrape(t, ta)
		return m("wisp_compaction_backlog_entries", "level", "0") == 0 && m("wisp_compaction_backlog_entries", "level", "1") == 0 &&
			m("wisp_compaction_in_flight", "", "") == 0
	})
	compactSecs := time.Since(began).Seconds()
	after := len(dataFiles(t, st))
	if after*10 > before {
		t.Fatalf("%d data files after compaction, %d before: want at least 10x fewer", after, before)
	}
	for _, l := range ta.Metadata().Levels() {
		lv := strconv.Itoa(int(l.Level))
		if got := m("wisp_level_files", "level", lv); got != float64(l.Files) {
			t.Fatalf("wisp_level_files{level=%s} = %v, metadata has %v", lv, got, l.Files)
		}
	}
	if m("wisp_compaction_runs_total", "", "") < 2 || m("wisp_compaction_bytes_rewritten_total", "", "") < float64(manifestBytes(ta, id, partitions)) {
		t.Fatalf("compaction counters: %v runs, %v bytes", m("wisp_compaction_runs_total", "", ""), m("wisp_compaction_bytes_rewritten_total", "", ""))
	}
	// Level 2 packs several entries of a partition into a file, none
	// bigger than a fetch can sensibly read whole.
	entries, multi := 0, false
	for p := range int32(partitions) {
		es, _, _ := ta.Metadata().Entries(id, p, 0, 1<<20)
		perFile := map[string]int{}
		for _, e := range es {
			if e.Len > maxRunBytes {
				t.Fatalf("partition %d: entry %d..%d is %d bytes, over %d", p, e.BaseOffset, e.LastOffset, e.Len, maxRunBytes)
			}
			perFile[e.Key]++
			if perFile[e.Key] > 1 {
				f, _ := ta.Metadata().File(e.Key)
				multi = multi || f.Level == 2
			}
		}
		entries += len(es)
	}
	if !multi {
		t.Fatal("no level-2 file holds two entries of one partition")
	}

	ta.cfg.CompactionFanIn = 0 // the read below sees exactly the compacted files
	ta = ta.restart()
	gets = ta.StoreStats()[objstore.OpGet].Requests
	got, secs := digestEverything(t, ta, topic, partitions)
	gets = ta.StoreStats()[objstore.OpGet].Requests - gets
	sameDigestsAt(t, "read after compaction vs before", want, got)
	t.Logf("compaction took %.1fs; levels %+v; %d manifest entries", compactSecs, ta.Metadata().Levels(), entries)
	t.Logf("after compaction: %d data files (%dx fewer); full catch-up read (%.1f MiB) with %d GETs (%s each) in %.2fs = %.1f MiB/s",
		after, before/max(after, 1), size, gets, getLatency, secs, size/secs)
}

// TestCompactionLevel2WhileProducing: compaction runs while a producer
// writes for several collector passes. Each pass turns the new flushes into
// one level-1 file; level 2 merges those in turn, so the live files stay few
// however long the producer runs, and every acked record reads back at its
// offset.
func TestCompactionLevel2WhileProducing(t *testing.T) {
	const (
		topic      = "steady"
		partitions = 2
		fanIn      = 3
	)
	var st objstore.Store
	ta := startAgent(t, compactionConfig(t, fanIn, &st))
	cl := ta.client(manualPartitioner())
	createTopic(t, cl, topic, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type at struct {
		p   int32
		off int64
	}
	acked := map[at]string{}
	r := 0
	produce := func() {
		t.Helper()
		recs := make([]*kgo.Record, 10)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "r%04d-i%d", r, i)}
		}
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", r, err)
		}
		for _, pr := range res {
			acked[at{pr.Record.Partition, pr.Record.Offset}] = string(pr.Record.Value)
		}
		r++
	}
	// Until level 2 has merged level-1 files twice over (each level-2 run
	// takes fanIn of them), keep producing; meanwhile the live files stay
	// bounded.
	waitFor(t, 45*time.Second, "level 2 to merge level-1 files twice", func() bool {
		produce()
		if n := levelFiles(ta, 1); n > fanIn*partitions {
			t.Fatalf("%d live level-1 files: level 2 is not merging them (levels %+v)", n, ta.Metadata().Levels())
		}
		return levelFiles(ta, 2) >= 2
	})
	levels := ta.Metadata().Levels()
	flushes := scrape(t, ta)("wisp_flush_files_total", "", "")
	waitFor(t, 10*time.Second, "replaced files to be deleted", func() bool { return len(ta.Metadata().DeadFiles()) == 0 })
	live := len(dataFiles(t, st))
	if live*5 > int(flushes) {
		t.Fatalf("%d data files in the bucket after %v flushes, want at most a fifth", live, flushes)
	}
	got := consumeToEnd(t, ta.AdvertisedAddr(), topic, 30*time.Second)
	seen := map[at]bool{}
	for _, rec := range got {
		k := at{rec.Partition, rec.Offset}
		if seen[k] || acked[k] != string(rec.Value) {
			t.Fatalf("partition %d offset %d: %q (read before: %v), acked %q", k.p, k.off, rec.Value, seen[k], acked[k])
		}
		seen[k] = true
	}
	if len(seen) != len(acked) {
		t.Fatalf("read %d records, %d acked", len(seen), len(acked))
	}
	t.Logf("%d acked rounds, %v flushes, %d data files in the bucket; levels %+v", r, flushes, live, levels)
}

// TestCompactionWhileConsumingAndRetention: a consumer reads while the
// producer writes, compaction merges files and retention.bytes trims the
// log. It never gets a fetch error but OFFSET_OUT_OF_RANGE (overtaken by
// retention), never sees an offset twice, and every record it sees holds
// the value produced at its offset.
func TestCompactionWhileConsumingAndRetention(t *testing.T) {
	ta := startAgent(t, compactionConfig(t, 8, nil))
	pcl := ta.client(manualPartitioner())
	createTopic(t, pcl, "racing-compaction", 1)
	adm := kadm.NewClient(pcl)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("5000")}}, "racing-compaction"); err != nil {
		t.Fatal(err)
	}

	const rounds, perRound = 300, 10
	var (
		wg         sync.WaitGroup
		produceErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range rounds {
			recs := make([]*kgo.Record, perRound)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "racing-compaction", Value: []byte(strconv.Itoa(r*perRound + i))}
			}
			if produceErr = pcl.ProduceSync(ctx, recs...).FirstErr(); produceErr != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	ccl := ta.client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"racing-compaction": {0: kgo.NewOffset().AtStart()}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(2000), kgo.FetchMaxPartitionBytes(2000),
	)
	last := int64(-1)
	seen, sawLevel1 := 0, false
	for last < rounds*perRound-1 {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			wg.Wait()
			t.Fatalf("consumer reached offset %d of %d: %v", last, rounds*perRound, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, kerr.OffsetOutOfRange) {
				t.Errorf("fetch error: %v", err)
			}
		})
		for _, r := range fs.Records() {
			if r.Offset <= last {
				t.Fatalf("offset %d seen again after %d", r.Offset, last)
			}
			if seen > 0 && r.Offset != last+1 && !sawTrimPast(t, adm, r.Offset) {
				t.Fatalf("skipped offsets %d..%d that retention had not trimmed", last+1, r.Offset-1)
			}
			if v, _ := strconv.ParseInt(string(r.Value), 10, 64); v != r.Offset {
				t.Fatalf("offset %d holds value %q", r.Offset, r.Value)
			}
			last = r.Offset
			seen++
		}
		sawLevel1 = sawLevel1 || levelFiles(ta, 1) > 0
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("produce: %v", produceErr)
	}
	if !sawLevel1 {
		t.Fatal("no compaction output was live while the consumer read")
	}
	start := startOffset(t, adm, "racing-compaction", 0)
	if start == 0 {
		t.Fatal("retention never trimmed during the run")
	}
	t.Logf("consumer saw %d of %d records; log start ended at %d; levels %+v", seen, rounds*perRound, start, ta.Metadata().Levels())
}

// sawTrimPast reports whether retention has moved the log start to or past
// offset: a consumer reset to the log start legitimately jumps there.
func sawTrimPast(t testing.TB, adm *kadm.Client, offset int64) bool {
	return startOffset(t, adm, "racing-compaction", 0) >= offset
}

// failCompactionPuts stores every object, but while failing is set reports
// the upload of a compaction output as failed: for the bucket exactly what
// an agent dying between the upload and the commit leaves behind.
type failCompactionPuts struct {
	objstore.Store
	failing atomic.Bool
}

func isCompactionOutput(key string) bool {
	return strings.Contains(key, "-L1-") || strings.Contains(key, "-L2-")
}

func (s *failCompactionPuts) Put(ctx context.Context, key string, data []byte) error {
	if err := s.Store.Put(ctx, key, data); err != nil {
		return err
	}
	if s.failing.Load() && isCompactionOutput(key) {
		return errors.New("injected: compactor died after the upload")
	}
	return nil
}

// TestCompactionInterruptedLeavesOrphan: a compaction whose commit never
// happens leaves its output in the bucket unreferenced; the orphan scan
// deletes it, nothing is lost, and a later compaction succeeds.
func TestCompactionInterruptedLeavesOrphan(t *testing.T) {
	var fs *failCompactionPuts
	cfg := compactionConfig(t, 8, nil)
	cfg.WrapStore = func(s objstore.Store) objstore.Store {
		fs = &failCompactionPuts{Store: s}
		fs.failing.Store(true)
		return fs
	}
	cfg.OrphanScanInterval = time.Second
	cfg.OrphanGrace = time.Second
	ta := startAgent(t, cfg)
	cl := ta.client(manualPartitioner())
	createTopic(t, cl, "interrupted", 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := produceRounds(ctx, cl, "interrupted", 2, 40, 20); err != nil {
		t.Fatalf("produce: %v", err)
	}
	want, _ := readEverything(t, ta, "interrupted", 2)

	var orphan string
	waitFor(t, 20*time.Second, "an uncommitted compaction output in the bucket", func() bool {
		for _, k := range dataFiles(t, fs.Store) {
			if isCompactionOutput(k) {
				orphan = k
				return true
			}
		}
		return false
	})
	if ta.Metadata().FileLive(orphan) || levelFiles(ta, 1) != 0 {
		t.Fatalf("%s is live although its commit never happened", orphan)
	}
	waitFor(t, 20*time.Second, "the orphan scan to delete "+orphan, func() bool {
		for _, k := range dataFiles(t, fs.Store) {
			if k == orphan {
				return false
			}
		}
		return true
	})
	got, _ := readEverything(t, ta, "interrupted", 2)
	sameRecordsAt(t, want, got)

	fs.failing.Store(false)
	waitFor(t, 20*time.Second, "a compaction to commit once uploads succeed", func() bool {
		return levelFiles(ta, 1) > 0 && levelFiles(ta, 0) == 0
	})
	got, _ = readEverything(t, ta, "interrupted", 2)
	sameRecordsAt(t, want, got)
}

// scrape reads the agent's /metrics and returns a lookup of one sample by
// name and, optionally, one label: a counter's or gauge's value, a
// histogram's sample count.
func scrape(t testing.TB, ta *testAgent) func(name, label, value string) float64 {
	t.Helper()
	return scrapeHTTP(t, ta.HTTPAddr())
}

// scrapeHTTP is scrape for the agent whose HTTP listener is at addr.
func scrapeHTTP(t testing.TB, addr string) func(name, label, value string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	return func(name, label, value string) float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("metric %s missing", name)
		}
		for _, m := range f.Metric {
			match := label == ""
			for _, l := range m.Label {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			switch {
			case !match:
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("metric %s{%s=%q} missing", name, label, value)
		return 0
	}
}
