package kcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// kafkaError turns a Kafka error code from a response into a Go error that
// wraps the kerr value (so errors.Is(err, kerr.TopicAlreadyExists) works),
// keeps the server's own message and adds what to do about it. It returns
// nil for code 0.
func kafkaError(what string, code int16, serverMsg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	detail := ""
	if serverMsg != nil && *serverMsg != "" {
		detail = " (server says: " + *serverMsg + ")"
	}
	return fmt.Errorf("%s: %w%s%s", what, err, detail, advice(err, err.Error()+detail, 0))
}

// explain is advice for an error returned by the client rather than a
// response code: a Kafka error it passed on, or a deadline from --timeout.
func explain(err error, o Options) string {
	return advice(err, err.Error(), o.Timeout)
}

// hints pairs Kafka errors with the fix a kcmd user can make.
var hints = []struct {
	err  error
	hint string
}{
	{kerr.TopicAlreadyExists, "Choose another --topic, or delete this one first with --type delete-topic."},
	{kerr.UnknownTopicOrPartition, "Check the name with --type list-topics, or create it with --type create-topic."},
	{kerr.UnknownTopicID, "Check the name with --type list-topics, or create it with --type create-topic."},
	{kerr.InvalidTopicException, "Topic names may use only letters, digits, '.', '_' and '-', up to 249 characters."},
	{kerr.InvalidPartitions, "Set --partitions to a count the server allows."},
	{kerr.InvalidReplicationFactor, "The server rejected its own default replication factor; check its configuration."},
	{kerr.TopicDeletionDisabled, "The server has topic deletion disabled."},
	{kerr.OffsetOutOfRange, "--offset is outside the partition's log; use --offset -2 for the earliest or -1 for the latest offset."},
	{kerr.TopicAuthorizationFailed, "The server's ACLs deny this client access to the topic."},
	{kerr.ClusterAuthorizationFailed, "The server's ACLs deny this client cluster operations."},
	{kerr.RequestTimedOut, "The server did not finish in time; raise --timeout or check the server's health."},
	{kerr.NotController, "The server had no controller; retry, and check the server's health if it persists."},
	{kerr.CoordinatorNotAvailable, "The server has no group coordinator yet; retry, and check the server's health if it persists."},
}

// advice returns the sentences that tell the user what to do about err,
// ready to append to a message that so far ends with errText; "" when
// there is nothing to add. timeout is --timeout, named when err is a
// deadline; zero leaves that advice out.
func advice(err error, errText string, timeout time.Duration) string {
	var parts []string
	for _, h := range hints {
		if errors.Is(err, h.err) {
			parts = append(parts, h.hint)
			break
		}
	}
	if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		parts = append(parts, fmt.Sprintf("No answer came within --timeout %s; raise it if the server is slow.", timeout.Round(time.Millisecond)))
	}
	if len(parts) == 0 {
		return ""
	}
	return sentenceSep(errText) + strings.Join(parts, " ")
}

// sentenceSep is what goes between text and a following sentence.
func sentenceSep(text string) string {
	if strings.HasSuffix(text, ".") {
		return " "
	}
	return ". "
}
