package kcmd

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func createTopic(ctx context.Context, o Options, out io.Writer) error {
	cl, err := newClient(o)
	if err != nil {
		return err
	}
	defer cl.Close()

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(o.Timeout.Milliseconds())
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = o.Topic
	t.NumPartitions = o.Partitions
	t.ReplicationFactor = -1 // the server's default
	req.Topics = append(req.Topics, t)

	sctx, cancel := step(ctx, o)
	defer cancel()
	resp, err := req.RequestWith(sctx, cl)
	if err != nil {
		return fmt.Errorf("create topic %q: %w%s", o.Topic, err, explain(err, o))
	}
	rt, err := findCreated(resp, o.Topic)
	if err != nil {
		return err
	}
	if err := kafkaError(fmt.Sprintf("create topic %q", o.Topic), rt.ErrorCode, rt.ErrorMessage); err != nil {
		return err
	}
	fmt.Fprintf(out, "created topic %q successfully, topic ID: %s\n", o.Topic, formatTopicID(rt.TopicID))
	return nil
}

func findCreated(resp *kmsg.CreateTopicsResponse, topic string) (kmsg.CreateTopicsResponseTopic, error) {
	for _, rt := range resp.Topics {
		if rt.Topic == topic {
			return rt, nil
		}
	}
	return kmsg.CreateTopicsResponseTopic{}, fmt.Errorf("create topic %q: the server's answer did not mention the topic. Check with --type list-topics.", topic)
}

func deleteTopic(ctx context.Context, o Options, out io.Writer) error {
	cl, err := newClient(o)
	if err != nil {
		return err
	}
	defer cl.Close()

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = int32(o.Timeout.Milliseconds())
	// Versions before 6 read TopicNames, later ones read Topics; the
	// client picks the version, so fill both.
	req.TopicNames = []string{o.Topic}
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = kmsg.StringPtr(o.Topic)
	req.Topics = append(req.Topics, t)

	sctx, cancel := step(ctx, o)
	defer cancel()
	resp, err := req.RequestWith(sctx, cl)
	if err != nil {
		return fmt.Errorf("delete topic %q: %w%s", o.Topic, err, explain(err, o))
	}
	for _, rt := range resp.Topics {
		if rt.Topic != nil && *rt.Topic != o.Topic {
			continue
		}
		if err := kafkaError(fmt.Sprintf("delete topic %q", o.Topic), rt.ErrorCode, rt.ErrorMessage); err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted topic %q successfully\n", o.Topic)
		return nil
	}
	return fmt.Errorf("delete topic %q: the server's answer did not mention the topic. Check with --type list-topics.", o.Topic)
}

func listTopics(ctx context.Context, o Options, out io.Writer) error {
	cl, err := newClient(o)
	if err != nil {
		return err
	}
	defer cl.Close()

	resp, err := requestMetadata(ctx, cl, o, nil)
	if err != nil {
		return err
	}
	type row struct {
		name       string
		partitions int
	}
	rows := make([]row, 0, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kafkaError(fmt.Sprintf("list topic %q", *t.Topic), t.ErrorCode, nil); err != nil {
			return err
		}
		rows = append(rows, row{*t.Topic, len(t.Partitions)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	if len(rows) == 0 {
		fmt.Fprintln(out, "no topics")
		return nil
	}
	for _, r := range rows {
		fmt.Fprintf(out, "%s partitions=%d\n", r.name, r.partitions)
	}
	return nil
}

// requestMetadata asks for the named topics, or all topics when topics is
// nil, without ever asking the server to create a topic.
func requestMetadata(ctx context.Context, cl *kgo.Client, o Options, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	if topics != nil {
		req.Topics = make([]kmsg.MetadataRequestTopic, 0, len(topics))
		for _, name := range topics {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, t)
		}
	}
	sctx, cancel := step(ctx, o)
	defer cancel()
	resp, err := req.RequestWith(sctx, cl)
	if err != nil {
		adv := explain(err, o)
		if adv == "" {
			adv = sentenceSep(err.Error())
		} else {
			adv += " "
		}
		return nil, fmt.Errorf("metadata request to %s: %w%sIs a Kafka listener answering there?", o.bootstrapAddr(), err, adv)
	}
	return resp, nil
}

// partitionCount returns how many partitions topic has, with an error that
// says how to fix a missing topic.
func partitionCount(ctx context.Context, cl *kgo.Client, o Options, topic string) (int32, error) {
	resp, err := requestMetadata(ctx, cl, o, []string{topic})
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kafkaError(fmt.Sprintf("topic %q", topic), t.ErrorCode, nil); err != nil {
			return 0, err
		}
		return int32(len(t.Partitions)), nil
	}
	return 0, fmt.Errorf("topic %q: not in the server's metadata. Check the name with --type list-topics, or create it with --type create-topic.", topic)
}

// checkPartition rejects --partition values the topic does not have.
func checkPartition(o Options, count int32) error {
	if o.Partition >= count {
		return fmt.Errorf("%w: --partition %d does not exist; topic %q has partitions 0 to %d", ErrInvalidOptions, o.Partition, o.Topic, count-1)
	}
	return nil
}

// formatTopicID prints a Kafka topic UUID in the canonical 8-4-4-4-12 form.
func formatTopicID(id [16]byte) string {
	if id == [16]byte{} {
		return "unknown (the server did not return one)"
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}
