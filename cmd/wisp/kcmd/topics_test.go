package kcmd

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTopicLifecycle(t *testing.T) {
	c := newCluster(t)

	create := func(topic string, partitions int32) Options {
		o := optionsFor(t, c, TypeCreateTopic)
		o.Topic, o.Partitions = topic, partitions
		return o
	}
	created := regexp.MustCompile(`^created topic "orders" successfully, topic ID: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	got := mustRun(t, create("orders", 3))
	if len(got) != 1 || !created.MatchString(got[0]) {
		t.Fatalf("create-topic output %q does not match %s", got, created)
	}
	mustRun(t, create("audit", 1))

	_, err := run(t, create("orders", 3))
	if !errors.Is(err, kerr.TopicAlreadyExists) || !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") || !strings.Contains(err.Error(), "--topic") {
		t.Errorf("second create-topic: err = %v, want TOPIC_ALREADY_EXISTS with advice naming --topic", err)
	}

	equalLines(t, "list-topics", mustRun(t, optionsFor(t, c, TypeListTopics)), []string{
		"audit partitions=1",
		"orders partitions=3",
	})

	del := optionsFor(t, c, TypeDeleteTopic)
	del.Topic = "orders"
	equalLines(t, "delete-topic", mustRun(t, del), []string{`deleted topic "orders" successfully`})
	equalLines(t, "list-topics after delete", mustRun(t, optionsFor(t, c, TypeListTopics)), []string{"audit partitions=1"})

	_, err = run(t, del)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), "list-topics") {
		t.Errorf("deleting a missing topic: err = %v, want UNKNOWN_TOPIC_OR_PARTITION with advice", err)
	}
}

func TestListTopicsEmpty(t *testing.T) {
	c := newCluster(t)
	equalLines(t, "list-topics", mustRun(t, optionsFor(t, c, TypeListTopics)), []string{"no topics"})
}

func TestFormatTopicID(t *testing.T) {
	id := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got, want := formatTopicID(id), "01234567-89ab-cdef-0123-456789abcdef"; got != want {
		t.Errorf("formatTopicID = %q, want %q", got, want)
	}
	if got := formatTopicID([16]byte{}); !strings.HasPrefix(got, "unknown") {
		t.Errorf("formatTopicID(zero) = %q, want it to say unknown", got)
	}
}
