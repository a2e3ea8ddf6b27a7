package tests

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/objstore"
)

// retentionConfig is an agent whose collector (retention pass and dead-file
// deletion) runs every second with a one-second grace; st receives the
// agent's bucket.
func retentionConfig(st *objstore.Store) agentOption {
	return func(c *agentConfig) {
		c.DeadFileGrace = time.Second
		c.WrapStore = func(s objstore.Store) objstore.Store {
			if st != nil {
				*st = s
			}
			return s
		}
	}
}

func strp(s string) *string { return &s }

// topicConfig returns a topic config's value and source as DescribeConfigs
// reports them.
func topicConfig(t testing.TB, adm *kadm.Client, topic, name string) (string, kmsg.ConfigSource) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue(), c.Source
		}
	}
	t.Fatalf("config %s not described", name)
	return "", 0
}

func startOffset(t testing.TB, adm *kadm.Client, topic string, p int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lo, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	o, ok := lo.Lookup(topic, p)
	if !ok || o.Err != nil {
		t.Fatalf("start offset of %s/%d: %v", topic, p, o.Err)
	}
	return o.Offset
}

// readAll consumes one partition from its earliest offset up to end.
func readAll(t testing.TB, ta *testAgent, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl := ta.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s up to %d: got %d records: %v", topic, end, len(out), err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// produceAt produces values synchronously, all with the given timestamp, as
// one request (so one data file).
func produceAt(t testing.TB, cl *kgo.Client, topic string, ts time.Time, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v), Timestamp: ts}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func manualPartitioner() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

// TestAlterConfigsReplicatedAndDescribed: both alter APIs change a topic's
// retention through one agent, and every agent describes the result with
// the source kafka-configs relies on.
func TestAlterConfigsReplicatedAndDescribed(t *testing.T) {
	c := startCluster(t, 3)
	a, b := followers(t, c) // the alter is forwarded to the Raft leader
	createTopic(t, a.client(), "cfg", 2)
	adm, other := kadm.NewClient(a.client()), kadm.NewClient(b.client())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	described := func(name, value string, src kmsg.ConfigSource) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("%s=%s (%v) on every agent", name, value, src), func() bool {
			for _, adm := range []*kadm.Client{adm, other} {
				if v, s := topicConfig(t, adm, "cfg", name); v != value || s != src {
					return false
				}
			}
			return true
		})
	}
	check := func(rs kadm.AlterConfigsResponses, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("alter %s: %v %s", r.Name, r.Err, r.ErrMessage)
			}
		}
	}

	// IncrementalAlterConfigs SET, then one more override alongside.
	check(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("3600000")}}, "cfg"))
	described("retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	check(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("1048576")}}, "cfg"))
	described("retention.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig)
	described("retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)

	// DELETE returns a config to its default.
	check(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "cfg"))
	described("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// APPEND to a list config starts from its default.
	check(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("compact")}}, "cfg"))
	described("cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)

	// AlterConfigs replaces the whole set: what it leaves out is reset.
	check(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("120000")}}, "cfg"))
	described("retention.ms", "120000", kmsg.ConfigSourceDynamicTopicConfig)
	described("retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	described("cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// Bad values and unknown topics are refused per resource; nothing changes.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("soon")}}, "cfg")
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v %+v", err, rs)
	}
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("1")}}, "nope")
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v %+v", err, rs)
	}
	if v, _ := topicConfig(t, other, "cfg", "retention.ms"); v != "120000" {
		t.Fatalf("a refused change altered retention.ms to %s", v)
	}
}

// followers returns two agents that are not the Raft leader.
func followers(t *testing.T, c *cluster) (*testAgent, *testAgent) {
	t.Helper()
	var out []*testAgent
	for _, a := range c.live() {
		if !a.IsLeader() {
			out = append(out, a)
		}
	}
	if len(out) < 2 {
		t.Fatalf("%d followers, want 2", len(out))
	}
	return out[0], out[1]
}

// TestDeleteRecordsThroughFollower: DeleteRecords sent to a follower is
// forwarded to the leader, and every replica then holds the new log start.
func TestDeleteRecordsThroughFollower(t *testing.T) {
	c := startCluster(t, 3)
	a, b := followers(t, c)
	cl := a.client(manualPartitioner())
	createTopic(t, cl, "fwd", 1)
	produceAt(t, cl, "fwd", time.Now(), "0", "1", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Sent straight to agent a: kadm would route to the partition's leader.
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "fwd"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = 2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl.Broker(int(a.NodeID())))
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LowWatermark != 2 {
		t.Fatalf("delete records through a follower: %+v", p)
	}
	info, _ := a.Metadata().Topic("fwd")
	waitFor(t, 10*time.Second, "the other follower's replica to reach log start 2", func() bool {
		pi, _ := b.Metadata().Partition(info.ID, 0)
		return pi.LogStartOffset == 2
	})
}

// TestRetentionTimeExpiresOldRecords: once retention.ms is lowered, records
// older than it are gone from fetches and ListOffsets, and the file that held
// only them leaves the bucket.
func TestRetentionTimeExpiresOldRecords(t *testing.T) {
	var st objstore.Store
	ta := startAgent(t, testConfig(t, retentionConfig(&st)))
	cl := ta.client(manualPartitioner())
	createTopic(t, cl, "aging", 1)
	adm := kadm.NewClient(cl)

	produceAt(t, cl, "aging", time.Now().Add(-2*time.Hour), "old-0", "old-1", "old-2")
	produceAt(t, cl, "aging", time.Now(), "new-3", "new-4")
	if n := len(dataFiles(t, st)); n != 2 {
		t.Fatalf("%d data files, want 2", n)
	}
	if got := readAll(t, ta, "aging", 5); len(got) != 5 {
		t.Fatalf("before retention: %d records, want 5", len(got))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("3600000")}}, "aging"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the log start to pass the expired records", func() bool {
		return startOffset(t, adm, "aging", 0) == 3
	})
	got := readAll(t, ta, "aging", 5)
	if len(got) != 2 || string(got[0].Value) != "new-3" || got[0].Offset != 3 || string(got[1].Value) != "new-4" {
		t.Fatalf("after retention read %v", got)
	}
	waitFor(t, 20*time.Second, "the expired file to leave the bucket", func() bool { return len(dataFiles(t, st)) == 1 })

	// A fetch below the log start is out of range, as in Kafka.
	info, _ := ta.Metadata().Topic("aging")
	resp := fetchAt(t, cl, "aging", info.ID, 0).ErrorCode
	if resp != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 0: error code %d, want OFFSET_OUT_OF_RANGE", resp)
	}
}

// fetchAt sends one raw Fetch v11 for partition 0 of topic at offset and
// returns that partition's answer.
func fetchAt(t testing.TB, cl *kgo.Client, topic string, id [16]byte, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch at %d: %v", offset, err)
	}
	return resp.Topics[0].Partitions[0]
}

// TestRetentionBytesTrimsOldest: retention.bytes drops the oldest files and
// keeps at least the limit, newest data intact.
func TestRetentionBytesTrimsOldest(t *testing.T) {
	var st objstore.Store
	ta := startAgent(t, testConfig(t, retentionConfig(&st)))
	cl := ta.client(manualPartitioner())
	createTopic(t, cl, "sized", 1)
	adm := kadm.NewClient(cl)
	big := string(make([]byte, 1000))
	for i := range 6 {
		produceAt(t, cl, "sized", time.Now(), fmt.Sprintf("%d%s", i, big))
	}
	info, _ := ta.Metadata().Topic("sized")
	pi, _ := ta.Metadata().Partition(info.ID, 0)
	per := pi.Bytes / 6
	limit := 2*per + per/2 // two and a half files: three must stay

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp(strconv.FormatInt(limit, 10))}}, "sized"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "retention.bytes to trim", func() bool { return startOffset(t, adm, "sized", 0) == 3 })
	got := readAll(t, ta, "sized", 6)
	if len(got) != 3 || got[0].Offset != 3 || got[0].Value[0] != '3' || got[2].Value[0] != '5' {
		t.Fatalf("after retention.bytes read %d records starting at %d", len(got), got[0].Offset)
	}
	if pi, _ := ta.Metadata().Partition(info.ID, 0); pi.Bytes < limit {
		t.Fatalf("%d bytes left, below retention.bytes %d", pi.Bytes, limit)
	}
	waitFor(t, 20*time.Second, "the trimmed files to leave the bucket", func() bool { return len(dataFiles(t, st)) == 3 })
}

// TestDeleteRecordsAdvancesLogStart: DeleteRecords through kadm moves the
// log start, -1 means the high watermark and beyond it is out of range.
func TestDeleteRecordsAdvancesLogStart(t *testing.T) {
	var st objstore.Store
	ta := startAgent(t, testConfig(t, retentionConfig(&st)))
	cl := ta.client(manualPartitioner())
	createTopic(t, cl, "trimmed", 1)
	adm := kadm.NewClient(cl)
	produceAt(t, cl, "trimmed", time.Now(), "0", "1", "2")
	produceAt(t, cl, "trimmed", time.Now(), "3", "4")

	del := func(at int64) kadm.DeleteRecordsResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "trimmed", Partition: 0, At: at})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := rs.Lookup("trimmed", 0)
		if !ok {
			t.Fatal("no delete records response")
		}
		return r
	}

	if r := del(4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete to 4: %+v", r)
	}
	if got := startOffset(t, adm, "trimmed", 0); got != 4 {
		t.Fatalf("start offset %d after DeleteRecords, want 4", got)
	}
	got := readAll(t, ta, "trimmed", 5)
	if got[0].Offset != 4 || string(got[0].Value) != "4" {
		t.Fatalf("first record after DeleteRecords: offset %d %q", got[0].Offset, got[0].Value)
	}
	waitFor(t, 20*time.Second, "the file of offsets 0-2 to leave the bucket", func() bool { return len(dataFiles(t, st)) == 1 })

	if r := del(2); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete to 2 must leave the log start at 4: %+v", r)
	}
	if r := del(6); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond the high watermark: %+v", r)
	}
	if r := del(-1); r.Err != nil || r.LowWatermark != 5 {
		t.Fatalf("delete to the high watermark: %+v", r)
	}
	waitFor(t, 20*time.Second, "every file to leave the bucket", func() bool { return len(dataFiles(t, st)) == 0 })
	// The partition keeps its offsets: the next record gets offset 5.
	produceAt(t, cl, "trimmed", time.Now(), "5")
	if got := readAll(t, ta, "trimmed", 6); len(got) != 1 || got[0].Offset != 5 {
		t.Fatalf("after emptying: %v", got)
	}
}

// TestRetentionWhileConsuming: a consumer reading slower than the producer
// while retention.bytes keeps trimming (so it is usually overtaken and reset
// to the log start) sees every record at most once, in offset order, with
// the value produced at that offset, and no fetch error but
// OFFSET_OUT_OF_RANGE surfaces.
func TestRetentionWhileConsuming(t *testing.T) {
	ta := startAgent(t, testConfig(t, retentionConfig(nil)))
	pcl := ta.client(manualPartitioner())
	createTopic(t, pcl, "racing", 1)
	adm := kadm.NewClient(pcl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: strp("1000")}}, "racing"); err != nil {
		t.Fatal(err)
	}

	const rounds = 60
	var (
		wg         sync.WaitGroup
		produceErr error
	)
	wg.Add(1)
	go func() { // t.Fatal belongs to the test goroutine: keep the error
		defer wg.Done()
		for r := range rounds {
			recs := make([]*kgo.Record, 10)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: "racing", Value: []byte(strconv.Itoa(r*10 + i))}
			}
			if produceErr = pcl.ProduceSync(ctx, recs...).FirstErr(); produceErr != nil {
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
	}()

	ccl := ta.client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"racing": {0: kgo.NewOffset().AtStart()}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(300), kgo.FetchMaxPartitionBytes(300), // about two batches a poll
	)
	last := int64(-1)
	seen := 0
	for last < rounds*10-1 {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			wg.Wait()
			t.Fatalf("consumer reached offset %d of %d: %v", last, rounds*10, ctx.Err())
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
			if v, _ := strconv.ParseInt(string(r.Value), 10, 64); v != r.Offset {
				t.Fatalf("offset %d holds value %q", r.Offset, r.Value)
			}
			last = r.Offset
			seen++
		}
		time.Sleep(100 * time.Millisecond) // read slower than the producer so retention overtakes
	}
	wg.Wait()
	if produceErr != nil {
		t.Fatalf("produce: %v", produceErr)
	}
	start := startOffset(t, adm, "racing", 0)
	if start == 0 {
		t.Fatal("retention never trimmed during the run")
	}
	t.Logf("consumer saw %d of %d records; log start ended at %d", seen, rounds*10, start)
}
