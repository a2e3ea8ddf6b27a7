package tests

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer groups driven by franz-go as applications use them: the classic
// protocol with the cooperative-sticky balancer, the KIP-848 consumer
// protocol, a member that dies without leaving, a topic deleted under a
// group, and the admin API.

// grpConsumer is one group member polling in the background. It records
// every record it sees and the partitions it currently owns.
type grpConsumer struct {
	t     *testing.T
	name  string
	topic string // the topic ownedPartitions and seenOffsets report on
	cl    *kgo.Client

	mu     sync.Mutex
	seen   map[string]map[int32]map[int64]int // topic -> partition -> offset -> times seen
	owned  map[string]map[int32]bool
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

// grpOpts are the group options every test member uses: short timers so
// rebalances are quick, and frequent autocommits.
func grpOpts(group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.AutoCommitInterval(300 * time.Millisecond),
	}
}

// startGrpConsumer starts a member with the given options (start them
// with grpOpts); topic names the topic its partition views report on.
func startGrpConsumer(t *testing.T, ta *testAgent, name, topic string, opts ...kgo.Opt) *grpConsumer {
	t.Helper()
	gc := &grpConsumer{t: t, name: name, topic: topic, seen: map[string]map[int32]map[int64]int{}, owned: map[string]map[int32]bool{}, done: make(chan struct{})}
	track := []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			for t, ps := range m {
				if gc.owned[t] == nil {
					gc.owned[t] = map[int32]bool{}
				}
				for _, p := range ps {
					gc.owned[t][p] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { gc.drop(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { gc.drop(m) }),
	}
	gc.cl = ta.client(append(track, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	gc.cancel = cancel
	go gc.poll(ctx)
	t.Cleanup(gc.stop)
	return gc
}

func (gc *grpConsumer) drop(m map[string][]int32) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(gc.owned[t], p)
		}
	}
}

func (gc *grpConsumer) poll(ctx context.Context) {
	defer close(gc.done)
	for ctx.Err() == nil {
		fs := gc.cl.PollFetches(ctx)
		gc.mu.Lock()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && len(gc.errs) < 100 {
				gc.errs = append(gc.errs, fmt.Errorf("%s/%d: %w", topic, p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if gc.seen[r.Topic] == nil {
				gc.seen[r.Topic] = map[int32]map[int64]int{}
			}
			if gc.seen[r.Topic][r.Partition] == nil {
				gc.seen[r.Topic][r.Partition] = map[int64]int{}
			}
			gc.seen[r.Topic][r.Partition][r.Offset]++
		})
		gc.mu.Unlock()
	}
}

// stop ends polling (the client is closed, leaving the group, at cleanup).
func (gc *grpConsumer) stop() {
	gc.cancel()
	<-gc.done
}

// close stops polling, commits what was consumed and leaves the group.
func (gc *grpConsumer) close() {
	gc.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gc.cl.CommitUncommittedOffsets(ctx); err != nil {
		gc.t.Errorf("%s: final commit: %v", gc.name, err)
	}
	gc.cl.Close()
}

func (gc *grpConsumer) ownedPartitions() []int32 {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return slices.Sorted(maps.Keys(gc.owned[gc.topic]))
}

// count is the number of distinct records seen, over all topics.
func (gc *grpConsumer) count() int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	n := 0
	for _, parts := range gc.seen {
		for _, offs := range parts {
			n += len(offs)
		}
	}
	return n
}

func (gc *grpConsumer) seenOffsets() map[int32]map[int64]int {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	out := map[int32]map[int64]int{}
	for p, offs := range gc.seen[gc.topic] {
		out[p] = maps.Clone(offs)
	}
	return out
}

func (gc *grpConsumer) errors() []error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return slices.Clone(gc.errs)
}

// produceN produces n records round-robin over the topic's partitions and
// returns how many went to each partition.
func grpProduce(t testing.TB, cl *kgo.Client, topic string, n int, tag string) map[int32]int {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", tag, i)}
	}
	per := map[int32]int{}
	for p, rs := range produceAll(t, cl, recs) {
		per[p] = len(rs)
	}
	return per
}

func roundRobin() kgo.Opt {
	return kgo.RecordPartitioner(kgo.RoundRobinPartitioner())
}

// committed returns the group's committed offset per partition of topic.
func committed(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range os[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offsets of %s: %s/%d: %v", group, topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

func sumPartitions(m map[int32]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestGroupCooperativeSplitAndRestart: one cooperative-sticky member reads
// a 12-partition topic and commits; a second member joins and gets half
// the partitions, the two read new records without overlap; after an agent
// restart a member of the same group resumes exactly at the committed
// offsets.
func TestGroupCooperativeSplitAndRestart(t *testing.T) {
	testGroupSplitAndRestart(t, "classic")
}

// TestGroupConsumerProtocolSplitAndRestart is the same with the KIP-848
// consumer protocol and server-side assignment.
func TestGroupConsumerProtocolSplitAndRestart(t *testing.T) {
	testGroupSplitAndRestart(t, "consumer")
}

func testGroupSplitAndRestart(t *testing.T, protocol string) {
	ta := startAgent(t, testConfig(t))
	const topic, group, parts = "split", "split-group", 12
	prod := ta.client(roundRobin())
	createTopic(t, prod, topic, parts)
	first := grpProduce(t, prod, topic, 1200, "first")

	opts := grpOpts(group, topic)
	if protocol == "consumer" {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	a := startGrpConsumer(t, ta, "a", topic, opts...)
	waitFor(t, time.Minute, "member a to read everything", func() bool { return a.count() == 1200 })
	if got := a.ownedPartitions(); len(got) != parts {
		t.Fatalf("sole member owns partitions %v, want all %d", got, parts)
	}
	adm := kadm.NewClient(prod)
	waitFor(t, 30*time.Second, "member a's commits", func() bool {
		c := committed(t, adm, group, topic)
		for p, n := range first {
			if c[p] != int64(n) {
				return false
			}
		}
		return len(c) == parts
	})

	b := startGrpConsumer(t, ta, "b", topic, opts...)
	waitFor(t, time.Minute, "the partitions to be split 6/6", func() bool {
		pa, pb := a.ownedPartitions(), b.ownedPartitions()
		if len(pa) != parts/2 || len(pb) != parts/2 {
			return false
		}
		for _, p := range pa {
			if slices.Contains(pb, p) {
				return false
			}
		}
		return true
	})
	if b.count() != 0 {
		t.Fatalf("member b re-read %d committed records", b.count())
	}
	checkSplitDescribed(t, adm, protocol, group, topic, a, b)
	second := grpProduce(t, prod, topic, 1200, "second")
	waitFor(t, time.Minute, "both members to read the new records", func() bool { return a.count()+b.count() == 2400 })
	bOwn := b.ownedPartitions()
	for p := range b.seenOffsets() {
		if !slices.Contains(bOwn, p) {
			t.Fatalf("member b read partition %d it does not own (owns %v)", p, bOwn)
		}
	}
	for p, offs := range a.seenOffsets() {
		if slices.Contains(bOwn, p) && len(offs) != first[p] {
			t.Fatalf("member a read %d records of partition %d after giving it to b", len(offs)-first[p], p)
		}
	}
	a.close()
	b.close()
	want := map[int32]int64{}
	for p := range int32(parts) {
		want[p] = int64(first[p] + second[p])
	}
	if got := committed(t, adm, group, topic); !maps.Equal(got, want) {
		t.Fatalf("committed after both closed: %v, want %v", got, want)
	}

	ta = ta.restart()
	prod = ta.client(roundRobin())
	adm = kadm.NewClient(prod)
	if got := committed(t, adm, group, topic); !maps.Equal(got, want) {
		t.Fatalf("committed after restart: %v, want %v", got, want)
	}
	third := grpProduce(t, prod, topic, 600, "third")
	c := startGrpConsumer(t, ta, "c", topic, opts...)
	waitFor(t, time.Minute, "the member after restart to read the new records", func() bool { return c.count() == 600 })
	for p, offs := range c.seenOffsets() {
		for off := range offs {
			if off < want[p] {
				t.Fatalf("after restart partition %d resumed at offset %d, committed was %d", p, off, want[p])
			}
		}
		if len(offs) != third[p] {
			t.Fatalf("after restart partition %d: read %d records, produced %d", p, len(offs), third[p])
		}
	}
	if errs := c.errors(); len(errs) > 0 {
		t.Fatalf("member after restart saw errors: %v", errs)
	}
}

// checkSplitDescribed checks what the admin API shows of a group split
// between members a and b: the right API describes it (DescribeGroups for
// classic groups, ConsumerGroupDescribe for consumer groups, the other one
// answering as Kafka does), in state Stable, with each member's real
// assignment.
func checkSplitDescribed(t *testing.T, adm *kadm.Client, protocol, group, topic string, a, b *grpConsumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := [][]int32{a.ownedPartitions(), b.ownedPartitions()}
	slices.SortFunc(want, slices.Compare)
	var got [][]int32
	if protocol == "classic" {
		waitFor(t, 30*time.Second, "the group to be Stable", func() bool {
			dgs, err := adm.DescribeGroups(ctx, group)
			return err == nil && dgs[group].State == "Stable"
		})
		dgs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe groups: %v", err)
		}
		dg := dgs[group]
		if dg.Err != nil || dg.State != "Stable" || dg.ProtocolType != "consumer" || dg.Protocol != "cooperative-sticky" || len(dg.Members) != 2 {
			t.Fatalf("described group: err=%v state=%q protocol=%q/%q members=%d", dg.Err, dg.State, dg.ProtocolType, dg.Protocol, len(dg.Members))
		}
		for _, m := range dg.Members {
			meta, ok := m.Join.AsConsumer()
			if !ok || !slices.Equal(meta.Topics, []string{topic}) {
				t.Fatalf("member %s subscription metadata: %+v", m.MemberID, meta)
			}
			as, ok := m.Assigned.AsConsumer()
			if !ok || len(as.Topics) != 1 || as.Topics[0].Topic != topic {
				t.Fatalf("member %s assignment: %+v", m.MemberID, as)
			}
			got = append(got, slices.Sorted(slices.Values(as.Topics[0].Partitions)))
		}
		cgs, err := adm.DescribeConsumerGroups(ctx, group)
		if err == nil {
			err = cgs[group].Err
		}
		if !errors.Is(err, kerr.GroupIDNotFound) {
			t.Fatalf("ConsumerGroupDescribe of a classic group: %v, want GROUP_ID_NOT_FOUND", err)
		}
	} else {
		waitFor(t, 30*time.Second, "the consumer group to be Stable", func() bool {
			cgs, err := adm.DescribeConsumerGroups(ctx, group)
			return err == nil && cgs[group].State == "Stable"
		})
		cgs, err := adm.DescribeConsumerGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe consumer group: %v", err)
		}
		cg := cgs[group]
		if cg.Err != nil || cg.AssignorName != "uniform" || len(cg.Members) != 2 || cg.Epoch != cg.AssignmentEpoch {
			t.Fatalf("described consumer group: %+v", cg)
		}
		for _, m := range cg.Members {
			if !slices.Equal(m.SubscribedTopics, []string{topic}) || m.MemberEpoch != cg.Epoch {
				t.Fatalf("member %s: subscribed %v at epoch %d (group epoch %d)", m.MemberID, m.SubscribedTopics, m.MemberEpoch, cg.Epoch)
			}
			got = append(got, slices.Sorted(maps.Keys(m.Assignment[topic])))
		}
		dgs, err := adm.DescribeGroups(ctx, group)
		if err != nil || dgs[group].State != "Dead" {
			t.Fatalf("DescribeGroups of a consumer group: %v %+v, want state Dead", err, dgs[group])
		}
	}
	slices.SortFunc(got, slices.Compare)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("described assignments %v, members own %v", got, want)
	}
}

// killSwitch is a dialer whose connections can all be cut at once, after
// which it refuses to dial: a client behind it vanishes without a word, as
// a crashed process does.
type killSwitch struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// TestGroupMemberDiesWithoutLeaving: three members share 12 partitions
// while a producer runs; one dies without LeaveGroup. The other two take
// over its partitions once its session times out, every produced record is
// consumed at least once, and the final committed offsets are the end of
// every partition with every offset below them consumed: nothing skipped.
func TestGroupMemberDiesWithoutLeaving(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic, group, parts = "crash", "crash-group", 12
	prod := ta.client(roundRobin(), kgo.ProducerLinger(0))
	createTopic(t, prod, topic, parts)

	opts := grpOpts(group, topic)
	a := startGrpConsumer(t, ta, "a", topic, opts...)
	b := startGrpConsumer(t, ta, "b", topic, opts...)
	ks := &killSwitch{}
	c := startGrpConsumer(t, ta, "c", topic, append(opts, kgo.Dialer(ks.dial), kgo.RetryTimeout(3*time.Second))...)
	members := []*grpConsumer{a, b, c}
	waitFor(t, time.Minute, "three members with 4 partitions each", func() bool {
		for _, m := range members {
			if len(m.ownedPartitions()) != parts/3 {
				return false
			}
		}
		return true
	})

	// The producer runs for the whole test; hwm tracks what was acked.
	var hwmMu sync.Mutex
	hwm := map[int32]int64{}
	stopProducing := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			recs := make([]*kgo.Record, 24)
			for j := range recs {
				recs[j] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r-%d-%d", i, j)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			res := prod.ProduceSync(ctx, recs...)
			cancel()
			if err := res.FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			hwmMu.Lock()
			for _, r := range res {
				hwm[r.Record.Partition] = max(hwm[r.Record.Partition], r.Record.Offset+1)
			}
			hwmMu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	waitFor(t, time.Minute, "member c to consume", func() bool { return c.count() > 100 })
	cOwned := c.ownedPartitions()
	c.stop()
	ks.kill()
	t.Logf("killed member c owning %v after it consumed %d records", cOwned, c.count())

	waitFor(t, time.Minute, "a and b to take over c's partitions", func() bool {
		pa, pb := a.ownedPartitions(), b.ownedPartitions()
		return len(pa)+len(pb) == parts && len(pa) == parts/2
	})
	time.Sleep(500 * time.Millisecond) // let the producer write to the new owners too
	close(stopProducing)
	<-producerDone
	if t.Failed() {
		return
	}

	hwmMu.Lock()
	final := maps.Clone(hwm)
	hwmMu.Unlock()
	seenBy := func() map[int32]map[int64]bool {
		all := map[int32]map[int64]bool{}
		for _, m := range members {
			for p, offs := range m.seenOffsets() {
				if all[p] == nil {
					all[p] = map[int64]bool{}
				}
				for o := range offs {
					all[p][o] = true
				}
			}
		}
		return all
	}
	waitFor(t, time.Minute, "every produced record to be consumed", func() bool {
		all := seenBy()
		for p, end := range final {
			if int64(len(all[p])) < end {
				return false
			}
		}
		return true
	})
	a.close()
	b.close()

	adm := kadm.NewClient(prod)
	got := committed(t, adm, group, topic)
	all := seenBy()
	for p := range int32(parts) {
		if got[p] != final[p] {
			t.Errorf("partition %d: committed %d, end offset %d", p, got[p], final[p])
		}
		for o := range got[p] {
			if !all[p][o] {
				t.Errorf("partition %d: offset %d is below the committed offset %d but was never consumed", p, o, got[p])
				break
			}
		}
	}
	for _, m := range members[:2] {
		if errs := m.errors(); len(errs) > 0 {
			t.Errorf("member %s saw errors: %v", m.name, errs)
		}
	}
}

// TestGroupTopicDeletedWhileConsuming: a topic a group consumes is deleted.
// Its members get UNKNOWN_TOPIC_OR_PARTITION for it, its committed offsets
// are gone, and the group goes on: records of the other topic keep
// flowing, and a topic created again under the same name is consumed from
// its start.
func TestGroupTopicDeletedWhileConsuming(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) { testGroupTopicDeleted(t, protocol) })
	}
}

func testGroupTopicDeleted(t *testing.T, protocol string) {
	ta := startAgent(t, testConfig(t))
	const doomed, kept, group = "doomed", "kept", "deletion-group"
	prod := ta.client(roundRobin(), kgo.AllowAutoTopicCreation())
	createTopic(t, prod, doomed, 3)
	createTopic(t, prod, kept, 3)
	grpProduce(t, prod, doomed, 30, "d")
	grpProduce(t, prod, kept, 30, "k")

	opts := append(grpOpts(group, doomed),
		kgo.ConsumeTopics(doomed, kept),
		kgo.KeepRetryableFetchErrors(),
		kgo.MetadataMaxAge(time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if protocol == "consumer" {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	m := startGrpConsumer(t, ta, "m", kept, opts...)
	waitFor(t, time.Minute, "both topics to be consumed", func() bool { return m.count() == 60 })
	adm := kadm.NewClient(prod)
	waitFor(t, 30*time.Second, "commits of both topics", func() bool {
		return len(committed(t, adm, group, doomed)) == 3 && len(committed(t, adm, group, kept)) == 3
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, doomed); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if got := committed(t, adm, group, doomed); len(got) != 0 {
		t.Fatalf("offsets of the deleted topic survived: %v", got)
	}
	waitFor(t, 30*time.Second, "the member to see the topic is gone", func() bool {
		for _, err := range m.errors() {
			// By name UNKNOWN_TOPIC_OR_PARTITION, by id (Fetch v13+)
			// UNKNOWN_TOPIC_ID, as Kafka answers.
			if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
				return true
			}
		}
		return false
	})

	// The group still works: new records of the kept topic arrive.
	grpProduce(t, prod, kept, 30, "k2")
	waitFor(t, time.Minute, "records of the kept topic after the deletion", func() bool { return m.count() >= 90 })

	// And a topic created again under the old name, once the member
	// resubscribes (franz-go never adopts a recreated topic's new id by
	// itself), is read from its start: no offset of the old topic leaks.
	createTopic(t, prod, doomed, 2)
	grpProduce(t, ta.client(roundRobin()), doomed, 20, "d2") // a producer that never knew the old topic id
	m.cl.PurgeTopicsFromConsuming(doomed)
	m.cl.AddConsumeTopics(doomed)
	waitFor(t, time.Minute, "the recreated topic to be consumed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		os, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false
		}
		n := int64(0)
		for _, o := range os[doomed] {
			n += o.At
		}
		return n == 20
	})
}

// TestGroupAdmin drives the admin API (kadm) over a group's life: listed
// and described while two members are Stable, with their assignments and
// subscriptions; offsets of a subscribed topic cannot be deleted and a group
// with members cannot be deleted; once the members leave, the lag inputs
// (committed and end offsets) are right, an admin commit with generation -1
// resets offsets as kafka-consumer-groups --reset-offsets does, single
// offsets and then the group can be deleted, and a deleted group is Dead.
func TestGroupAdmin(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	const topic, other, group, parts = "admin", "admin-other", "admin-group", 6
	prod := ta.client(roundRobin())
	adm := kadm.NewClient(prod)
	createTopic(t, prod, topic, parts)
	createTopic(t, prod, other, 1)
	grpProduce(t, prod, topic, 600, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// An unrelated group that exists only through an admin commit.
	simple := kadm.Offsets{}
	simple.AddOffset(other, 0, 0, -1)
	if err := adm.CommitAllOffsets(ctx, "simple-group", simple); err != nil {
		t.Fatalf("admin commit creating a simple group: %v", err)
	}

	opts := grpOpts(group, topic)
	a := startGrpConsumer(t, ta, "a", topic, opts...)
	b := startGrpConsumer(t, ta, "b", topic, opts...)
	waitFor(t, time.Minute, "two members to read everything", func() bool {
		return a.count()+b.count() == 600 && len(a.ownedPartitions()) == 3 && len(b.ownedPartitions()) == 3
	})
	waitFor(t, 30*time.Second, "the group to be Stable", func() bool {
		dgs, err := adm.DescribeGroups(ctx, group)
		return err == nil && dgs[group].State == "Stable"
	})

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if lg, ok := listed[group]; !ok || lg.State != "Stable" || lg.ProtocolType != "consumer" {
		t.Fatalf("listed %+v", listed)
	}
	if lg, ok := listed["simple-group"]; !ok || lg.State != "Empty" {
		t.Fatalf("the simple group is not listed as Empty: %+v", listed)
	}
	if byState, err := adm.ListGroups(ctx, "Empty"); err != nil || len(byState) != 1 {
		t.Fatalf("groups listed as Empty: %v %v", byState, err)
	}
	if byType, err := adm.ListGroupsByType(ctx, []string{"consumer"}); err != nil || len(byType) != 0 {
		t.Fatalf("groups of type consumer: %v %v", byType, err)
	}
	if byType, err := adm.ListGroupsByType(ctx, []string{"Classic"}, "stable"); err != nil || len(byType) != 1 {
		t.Fatalf("stable groups of type classic: %v %v", byType, err)
	}

	dgs, err := adm.DescribeGroups(ctx, group, "no-such-group")
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	if dg := dgs["no-such-group"]; dg.Err != nil || dg.State != "Dead" {
		t.Fatalf("unknown group described as %+v, want Dead without error", dg)
	}
	described := dgs[group]
	assigned := described.AssignedPartitions()
	if got := slices.Sorted(maps.Keys(assigned[topic])); len(got) != parts {
		t.Fatalf("described assignment covers %v, want all %d partitions", got, parts)
	}
	for _, m := range described.Members {
		if m.ClientHost != "/127.0.0.1" || m.ClientID == "" {
			t.Fatalf("member %s: client id %q host %q", m.MemberID, m.ClientID, m.ClientHost)
		}
	}

	del, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("delete offsets: %v", err)
	}
	if err, _ := del.Lookup(topic, 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("deleting offsets of a subscribed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", err)
	}
	if res, err := adm.DeleteGroups(ctx, group); err != nil || !errors.Is(res[group].Err, kerr.NonEmptyGroup) {
		t.Fatalf("deleting a group with members: %v %v, want NON_EMPTY_GROUP", res, err)
	}
	reset := kadm.Offsets{}
	reset.AddOffset(topic, 0, 0, -1)
	if res, err := adm.CommitOffsets(ctx, group, reset); err != nil || !errors.Is(res.Error(), kerr.UnknownMemberID) {
		t.Fatalf("admin commit into a group with members: %v %v, want UNKNOWN_MEMBER_ID", res, err)
	}

	a.close()
	b.close()
	grpProduce(t, prod, topic, 60, "y") // 10 per partition, unconsumed
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	lag := lags[group]
	if lag.State != "Empty" || lag.Error() != nil {
		t.Fatalf("lag of the left group: state %q err %v", lag.State, lag.Error())
	}
	for p := range int32(parts) {
		l, ok := lag.Lag.Lookup(topic, p)
		if !ok || l.Commit.At != 100 || l.End.Offset != 110 || l.Lag != 10 {
			t.Fatalf("partition %d lag inputs: commit %d end %d lag %d", p, l.Commit.At, l.End.Offset, l.Lag)
		}
	}

	// kafka-consumer-groups --reset-offsets --to-earliest --execute.
	reset = kadm.Offsets{}
	for p := range int32(parts) {
		reset.AddOffset(topic, p, 0, -1)
	}
	if err := adm.CommitAllOffsets(ctx, group, reset); err != nil {
		t.Fatalf("reset offsets of the empty group: %v", err)
	}
	for p, at := range committed(t, adm, group, topic) {
		if at != 0 {
			t.Fatalf("partition %d committed at %d after the reset", p, at)
		}
	}

	del, err = adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets of the empty group: %v %v", del, err)
	}
	if got := committed(t, adm, group, topic); len(got) != parts-1 {
		t.Fatalf("offsets after deleting partition 0's: %v", got)
	}

	if res, err := adm.DeleteGroups(ctx, group, "no-such-group"); err != nil || res[group].Err != nil || !errors.Is(res["no-such-group"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: %v %v", res, err)
	}
	if got := committed(t, adm, group, topic); len(got) != 0 {
		t.Fatalf("offsets of a deleted group: %v", got)
	}
	if dgs, err := adm.DescribeGroups(ctx, group); err != nil || dgs[group].State != "Dead" {
		t.Fatalf("deleted group described as %+v %v", dgs[group], err)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || len(listed) != 1 {
		t.Fatalf("groups listed after the delete: %v %v", listed, err)
	}
}
