package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Two more Go client libraries against an in-process agent, each as its
// users drive it: a producer, a consumer group that commits and resumes,
// and the admin calls for topics. franz-go's groups are in groups_test.go.

// clientRecord is a produced or consumed record, comparable across clients.
type clientRecord struct {
	partition int32
	offset    int64
	key       string
	value     string
}

func (r clientRecord) String() string {
	return fmt.Sprintf("%d@%d %s=%s", r.partition, r.offset, r.key, r.value)
}

// sortedRecords orders records by partition and offset.
func sortedRecords(rs []clientRecord) []clientRecord {
	return slices.SortedFunc(slices.Values(rs), func(a, b clientRecord) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset - b.offset)
	})
}

// sameRecords fails unless got holds exactly want, compared by partition,
// offset, key and value.
func sameRecords(t testing.TB, what string, got, want []clientRecord) {
	t.Helper()
	g, w := sortedRecords(got), sortedRecords(want)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\ngot  %v\nwant %v", what, g, w)
	}
}

// keyedBatch makes n records spread over keys, values unique per batch.
func keyedBatch(batch string, n int) (keys, values []string) {
	for i := range n {
		keys = append(keys, fmt.Sprintf("key-%d", i%7))
		values = append(values, fmt.Sprintf("%s-%04d", batch, i))
	}
	return keys, values
}

// fromKgo converts franz-go records.
func fromKgo(rs []*kgo.Record) []clientRecord {
	out := make([]clientRecord, len(rs))
	for i, r := range rs {
		out[i] = clientRecord{r.Partition, r.Offset, string(r.Key), string(r.Value)}
	}
	return out
}

// highWatermarks is, per partition of topic, the offset after the last record.
func highWatermarks(rs []clientRecord) map[int32]int64 {
	hw := map[int32]int64{}
	for _, r := range rs {
		hw[r.partition] = max(hw[r.partition], r.offset+1)
	}
	return hw
}

// --- IBM/sarama -------------------------------------------------------------

var saramaVersions = []struct {
	name        string
	version     sarama.KafkaVersion
	compression sarama.CompressionCodec
}{
	{"default version", sarama.DefaultVersion, sarama.CompressionNone},
	{"Kafka 4.0 zstd", sarama.V4_0_0_0, sarama.CompressionZSTD},
}

func saramaConfig(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "wisp-test"
	cfg.Metadata.AllowAutoTopicCreation = false
	return cfg
}

func TestSaramaAdminTopics(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	admin, err := sarama.NewClusterAdmin([]string{ta.AdvertisedAddr()}, saramaConfig(sarama.V4_0_0_0))
	if err != nil {
		t.Fatalf("new cluster admin: %v", err)
	}
	defer admin.Close()

	detail := &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": new("86400000")}}
	if err := admin.CreateTopic("inventory", detail, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := admin.CreateTopic("inventory", detail, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("creating an existing topic: %v, want ErrTopicAlreadyExists", err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	got, ok := topics["inventory"]
	if !ok || got.NumPartitions != 3 {
		t.Fatalf("list topics: %+v, want inventory with 3 partitions", topics)
	}
	if v := got.ConfigEntries["retention.ms"]; v == nil || *v != "86400000" {
		t.Fatalf("list topics: inventory's retention.ms override is %v, want 86400000", v)
	}
	meta, err := admin.DescribeTopics([]string{"inventory"})
	if err != nil || len(meta) != 1 || !errors.Is(meta[0].Err, sarama.ErrNoError) || len(meta[0].Partitions) != 3 {
		t.Fatalf("describe topics: %+v %v", meta, err)
	}

	if err := admin.DeleteTopic("inventory"); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if topics, err = admin.ListTopics(); err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if _, ok := topics["inventory"]; ok {
		t.Fatalf("deleted topic still listed: %+v", topics)
	}
	if err := admin.DeleteTopic("inventory"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("deleting a deleted topic: %v, want ErrUnknownTopicOrPartition", err)
	}
}

func TestSaramaProducer(t *testing.T) {
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			ta := startAgent(t, testConfig(t))
			createTopic(t, ta.client(), "payments", 3)

			cfg := saramaConfig(v.version)
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Idempotent = true
			cfg.Net.MaxOpenRequests = 1
			cfg.Producer.Compression = v.compression
			prod, err := sarama.NewSyncProducer([]string{ta.AdvertisedAddr()}, cfg)
			if err != nil {
				t.Fatalf("new sync producer: %v", err)
			}
			defer prod.Close()

			keys, values := keyedBatch("pay", 500)
			msgs := make([]*sarama.ProducerMessage, len(keys))
			for i := range keys {
				msgs[i] = &sarama.ProducerMessage{Topic: "payments", Key: sarama.StringEncoder(keys[i]), Value: sarama.StringEncoder(values[i])}
			}
			// Half in one batch call, half one by one, as applications do both.
			if err := prod.SendMessages(msgs[:250]); err != nil {
				t.Fatalf("send messages: %v", err)
			}
			for _, m := range msgs[250:] {
				if _, _, err := prod.SendMessage(m); err != nil {
					t.Fatalf("send message: %v", err)
				}
			}
			var want []clientRecord
			perPartition := map[int32][]int64{}
			for i, m := range msgs {
				want = append(want, clientRecord{m.Partition, m.Offset, keys[i], values[i]})
				perPartition[m.Partition] = append(perPartition[m.Partition], m.Offset)
			}
			for p, offs := range perPartition {
				slices.Sort(offs)
				for i, o := range offs {
					if o != int64(i) {
						t.Fatalf("partition %d: acked offsets %v, want dense from 0", p, offs)
					}
				}
			}
			sameRecords(t, "consumed what sarama produced", fromKgo(consumeN(t, ta, "payments", len(want))), want)
		})
	}
}

// saramaCollector is a sarama.ConsumerGroupHandler that records what it is
// given, marks each message and commits once it has want of them.
type saramaCollector struct {
	want int
	mu   sync.Mutex
	got  []clientRecord
	done chan struct{}
}

func newSaramaCollector(want int) *saramaCollector {
	return &saramaCollector{want: want, done: make(chan struct{})}
}

func (c *saramaCollector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *saramaCollector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c *saramaCollector) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		c.mu.Lock()
		c.got = append(c.got, clientRecord{m.Partition, m.Offset, string(m.Key), string(m.Value)})
		full := len(c.got) == c.want
		c.mu.Unlock()
		if full {
			sess.Commit()
			close(c.done)
		}
	}
	return nil
}

// consumeWithSarama runs one sarama group member until it has n records,
// then closes it (leaving the group) and returns what it got.
func consumeWithSarama(t *testing.T, addr, group, topic string, cfg *sarama.Config, n int) []clientRecord {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("new consumer group: %v", err)
	}
	c := newSaramaCollector(n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, c); err != nil && ctx.Err() == nil {
				t.Errorf("consume: %v", err)
				return
			}
		}
	})
	go func() {
		for err := range cg.Errors() {
			t.Logf("consumer group error: %v", err)
		}
	}()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.mu.Lock()
		t.Errorf("sarama group %s consumed %d of %d records in a minute", group, len(c.got), n)
		c.mu.Unlock()
	}
	cancel()
	wg.Wait()
	if err := cg.Close(); err != nil {
		t.Errorf("close consumer group: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return c.got
}

func TestSaramaConsumerGroupCommitsAndResumes(t *testing.T) {
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			ta := startAgent(t, testConfig(t))
			addr := ta.AdvertisedAddr()
			cl := ta.client()
			createTopic(t, cl, "shipments", 4)

			produce := func(batch string, n int) []clientRecord {
				keys, values := keyedBatch(batch, n)
				recs := make([]*kgo.Record, n)
				for i := range recs {
					recs[i] = &kgo.Record{Topic: "shipments", Key: []byte(keys[i]), Value: []byte(values[i])}
				}
				var out []clientRecord
				for _, rs := range produceAll(t, cl, recs) {
					out = append(out, fromKgo(rs)...)
				}
				return out
			}
			cfg := saramaConfig(v.version)
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Return.Errors = true

			first := produce("first", 200)
			sameRecords(t, "first member", consumeWithSarama(t, addr, "billing", "shipments", cfg, len(first)), first)

			admin, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig(v.version))
			if err != nil {
				t.Fatalf("new cluster admin: %v", err)
			}
			defer admin.Close()
			groups, err := admin.ListConsumerGroups()
			if err != nil || groups["billing"] != "consumer" {
				t.Fatalf("list consumer groups: %v %v, want billing of protocol type consumer", groups, err)
			}
			desc, err := admin.DescribeConsumerGroups([]string{"billing"})
			if err != nil || len(desc) != 1 || desc[0].State != "Empty" || len(desc[0].Members) != 0 {
				t.Fatalf("describe consumer groups after the member left: %+v %v, want Empty with no members", desc, err)
			}
			offs, err := admin.ListConsumerGroupOffsets("billing", map[string][]int32{"shipments": {0, 1, 2, 3}})
			if err != nil {
				t.Fatalf("list consumer group offsets: %v", err)
			}
			hw := highWatermarks(first)
			for p := range int32(4) {
				b := offs.GetBlock("shipments", p)
				if b == nil || !errors.Is(b.Err, sarama.ErrNoError) || b.Offset != hw[p] {
					t.Fatalf("committed offset of partition %d: %+v, want %d", p, b, hw[p])
				}
			}

			second := produce("second", 100)
			sameRecords(t, "a new member resumes at the committed offsets", consumeWithSarama(t, addr, "billing", "shipments", cfg, len(second)), second)

			if err := admin.DeleteConsumerGroup("billing"); err != nil {
				t.Fatalf("delete consumer group: %v", err)
			}
			if groups, err := admin.ListConsumerGroups(); err != nil || len(groups) != 0 {
				t.Fatalf("list consumer groups after deleting billing: %v %v", groups, err)
			}
		})
	}
}

func TestSaramaConsumerGroupSplitsPartitions(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	addr := ta.AdvertisedAddr()
	cl := ta.client()
	createTopic(t, cl, "tasks", 6)
	cfg := saramaConfig(sarama.V4_0_0_0)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}

	// Two members of one group: once both are in, each owns 3 of the 6
	// partitions, and between them they consume every record.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shared := &sharedCollector{claims: map[int][]int32{}}
	var wg sync.WaitGroup
	for i := range 2 {
		cg, err := sarama.NewConsumerGroup([]string{addr}, "crew", cfg)
		if err != nil {
			t.Fatalf("new consumer group: %v", err)
		}
		defer cg.Close()
		h := &sharedMember{sharedCollector: shared, id: i}
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{"tasks"}, h); err != nil && ctx.Err() == nil {
					t.Errorf("member %d: consume: %v", i, err)
					return
				}
			}
		})
	}
	waitFor(t, time.Minute, "two members to own 3 partitions each", func() bool {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		return len(shared.claims[0]) == 3 && len(shared.claims[1]) == 3
	})

	keys, values := keyedBatch("task", 300)
	recs := make([]*kgo.Record, len(keys))
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "tasks", Key: []byte(keys[i]), Value: []byte(values[i])}
	}
	var want []clientRecord
	for _, rs := range produceAll(t, cl, recs) {
		want = append(want, fromKgo(rs)...)
	}
	waitFor(t, time.Minute, "two members to consume every record", func() bool {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		return len(shared.got) >= len(want)
	})
	cancel()
	wg.Wait()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	sameRecords(t, "two members together", shared.got, want)
	owned := map[int32]int{}
	for id, ps := range shared.claims {
		for _, p := range ps {
			if prev, ok := owned[p]; ok {
				t.Fatalf("partition %d claimed by members %d and %d: %v", p, prev, id, shared.claims)
			}
			owned[p] = id
		}
	}
	for _, r := range shared.got {
		if owned[r.partition] != shared.by[r] {
			t.Fatalf("record %v consumed by member %d, but partition %d is member %d's", r, shared.by[r], r.partition, owned[r.partition])
		}
	}
}

// sharedCollector is what several group members consumed, and the
// partitions each was given in its latest session.
type sharedCollector struct {
	mu     sync.Mutex
	got    []clientRecord
	by     map[clientRecord]int
	claims map[int][]int32
}

// sharedMember is one member's sarama.ConsumerGroupHandler.
type sharedMember struct {
	*sharedCollector
	id int
}

func (c *sharedMember) Setup(sess sarama.ConsumerGroupSession) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims[c.id] = sess.Claims()["tasks"]
	return nil
}

func (c *sharedMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c *sharedMember) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		r := clientRecord{m.Partition, m.Offset, string(m.Key), string(m.Value)}
		c.mu.Lock()
		c.got = append(c.got, r)
		if c.by == nil {
			c.by = map[clientRecord]int{}
		}
		c.by[r] = c.id
		c.mu.Unlock()
	}
	return nil
}

// --- segmentio/kafka-go ---------------------------------------------------

func kafkaGoClient(ta *testAgent) *kafkago.Client {
	return &kafkago.Client{Addr: kafkago.TCP(ta.AdvertisedAddr()), Timeout: 30 * time.Second}
}

// kafkaGoTopics lists topics and their partition counts the classic
// kafka-go way, over a dialed Conn: kafka.Client answers Metadata from its
// transport's cache, which a DeleteTopics does not refresh.
func kafkaGoTopics(t testing.TB, addr string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions()
	if err != nil {
		t.Fatalf("read partitions: %v", err)
	}
	out := map[string]int{}
	for _, p := range parts {
		out[p.Topic]++
	}
	return out
}

func TestKafkaGoAdminTopics(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	c := kafkaGoClient(ta)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	create := &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{
		{Topic: "ledger", NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "600000"}}},
		{Topic: "journal", NumPartitions: 1, ReplicationFactor: 1},
	}}
	resp, err := c.CreateTopics(ctx, create)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	if resp, err = c.CreateTopics(ctx, create); err != nil || !errors.Is(resp.Errors["ledger"], kafkago.TopicAlreadyExists) {
		t.Fatalf("creating ledger again: %v %v, want TopicAlreadyExists", resp, err)
	}
	if got := kafkaGoTopics(t, ta.AdvertisedAddr()); got["ledger"] != 3 || got["journal"] != 1 {
		t.Fatalf("metadata lists %v, want ledger with 3 partitions and journal with 1", got)
	}

	cfgs, err := c.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: "ledger", ConfigNames: []string{"retention.ms"}},
	}})
	if err != nil || len(cfgs.Resources) != 1 || len(cfgs.Resources[0].ConfigEntries) != 1 || cfgs.Resources[0].ConfigEntries[0].ConfigValue != "600000" {
		t.Fatalf("describe configs of ledger: %+v %v, want retention.ms=600000", cfgs, err)
	}

	del, err := c.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{"ledger"}})
	if err != nil || del.Errors["ledger"] != nil {
		t.Fatalf("delete topics: %+v %v", del, err)
	}
	if got := kafkaGoTopics(t, ta.AdvertisedAddr()); len(got) != 1 || got["journal"] != 1 {
		t.Fatalf("after deleting ledger, metadata lists %v, want only journal", got)
	}
}

func TestKafkaGoWriter(t *testing.T) {
	cases := []struct {
		name        string
		compression kafkago.Compression
	}{
		{"uncompressed", 0},
		{"snappy", kafkago.Snappy},
		{"lz4", kafkago.Lz4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ta := startAgent(t, testConfig(t))
			createTopic(t, ta.client(), "metrics", 3)
			w := &kafkago.Writer{
				Addr:         kafkago.TCP(ta.AdvertisedAddr()),
				Topic:        "metrics",
				Balancer:     &kafkago.Hash{},
				RequiredAcks: kafkago.RequireAll,
				BatchTimeout: 10 * time.Millisecond,
				Compression:  tc.compression,
			}
			defer w.Close()
			keys, values := keyedBatch("m", 1000)
			msgs := make([]kafkago.Message, len(keys))
			for i := range keys {
				msgs[i] = kafkago.Message{Key: []byte(keys[i]), Value: []byte(values[i])}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write messages: %v", err)
			}
			got := consumeN(t, ta, "metrics", len(msgs))
			// The Writer reports no offsets: check content, per-key order, and
			// that one key went to one partition.
			partOf := map[string]int32{}
			lastOf := map[string]string{}
			var gotVals, wantVals []string
			for _, r := range got {
				k := string(r.Key)
				if p, ok := partOf[k]; ok && p != r.Partition {
					t.Fatalf("key %s landed on partitions %d and %d", k, p, r.Partition)
				}
				partOf[k] = r.Partition
				if string(r.Value) <= lastOf[k] {
					t.Fatalf("key %s: %s came after %s", k, r.Value, lastOf[k])
				}
				lastOf[k] = string(r.Value)
				gotVals = append(gotVals, k+"="+string(r.Value))
			}
			for i := range keys {
				wantVals = append(wantVals, keys[i]+"="+values[i])
			}
			sameLines(t, "consumed what kafka-go wrote", gotVals, wantVals)
		})
	}
}

// consumeWithKafkaGo runs one kafka-go group reader until it has committed
// n records one by one, then closes it (leaving the group). Any error the
// reader logs fails the test: kafka-go retries most of them, so the records
// still arrive, but a user sees the errors in their logs and the backoff in
// their latency.
func consumeWithKafkaGo(t *testing.T, addr, group, topic string, n int) []clientRecord {
	t.Helper()
	var (
		errMu  sync.Mutex
		errLog []string
	)
	defer func() {
		errMu.Lock()
		defer errMu.Unlock()
		if len(errLog) > 0 {
			t.Errorf("the kafka-go reader logged %d errors, the first: %s", len(errLog), errLog[0])
		}
	}()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafkago.FirstOffset,
		MaxWait:           200 * time.Millisecond,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) {
			errMu.Lock()
			defer errMu.Unlock()
			errLog = append(errLog, fmt.Sprintf(f, a...))
		}),
	})
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("close reader: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []clientRecord
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch message %d of %d: %v", len(got)+1, n, err)
		}
		got = append(got, clientRecord{int32(m.Partition), m.Offset, string(m.Key), string(m.Value)})
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

func TestKafkaGoConsumerGroupCommitsAndResumes(t *testing.T) {
	ta := startAgent(t, testConfig(t))
	addr := ta.AdvertisedAddr()
	cl := ta.client()
	createTopic(t, cl, "deliveries", 3)
	produce := func(batch string, n int) []clientRecord {
		keys, values := keyedBatch(batch, n)
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: "deliveries", Key: []byte(keys[i]), Value: []byte(values[i])}
		}
		var out []clientRecord
		for _, rs := range produceAll(t, cl, recs) {
			out = append(out, fromKgo(rs)...)
		}
		return out
	}

	first := produce("first", 150)
	sameRecords(t, "first reader", consumeWithKafkaGo(t, addr, "couriers", "deliveries", len(first)), first)

	c := kafkaGoClient(ta)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	groups, err := c.ListGroups(ctx, &kafkago.ListGroupsRequest{})
	if err != nil || groups.Error != nil || len(groups.Groups) != 1 || groups.Groups[0].GroupID != "couriers" {
		t.Fatalf("list groups: %+v %v, want couriers", groups, err)
	}
	desc, err := c.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{"couriers"}})
	if err != nil || len(desc.Groups) != 1 || desc.Groups[0].GroupState != "Empty" {
		t.Fatalf("describe groups after the reader closed: %+v %v, want Empty", desc, err)
	}
	offs, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "couriers", Topics: map[string][]int{"deliveries": {0, 1, 2}}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	hw := highWatermarks(first)
	for _, p := range offs.Topics["deliveries"] {
		if p.Error != nil || p.CommittedOffset != hw[int32(p.Partition)] {
			t.Fatalf("committed offset of partition %d: %d (%v), want %d", p.Partition, p.CommittedOffset, p.Error, hw[int32(p.Partition)])
		}
	}

	second := produce("second", 60)
	sameRecords(t, "a new reader resumes at the committed offsets", consumeWithKafkaGo(t, addr, "couriers", "deliveries", len(second)), second)
}
