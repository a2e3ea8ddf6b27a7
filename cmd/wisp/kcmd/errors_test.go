package kcmd

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestKafkaError(t *testing.T) {
	msg := "topic 'x' already exists"
	tests := []struct {
		name string
		code int16
		msg  *string
		is   error
		want string
	}{
		{"success", 0, nil, nil, ""},
		{"hint after a sentence", kerr.TopicAlreadyExists.Code, nil, kerr.TopicAlreadyExists,
			`create: TOPIC_ALREADY_EXISTS: Topic with this name already exists. Choose another --topic, or delete this one first with --type delete-topic.`},
		{"server message kept", kerr.TopicAlreadyExists.Code, &msg, kerr.TopicAlreadyExists,
			`create: TOPIC_ALREADY_EXISTS: Topic with this name already exists. (server says: topic 'x' already exists). Choose another --topic, or delete this one first with --type delete-topic.`},
		{"no hint known", kerr.CorruptMessage.Code, nil, kerr.CorruptMessage,
			"create: " + kerr.CorruptMessage.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kafkaError("create", tt.code, tt.msg)
			if tt.is == nil {
				if err != nil {
					t.Fatalf("kafkaError = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.is) || err.Error() != tt.want {
				t.Errorf("kafkaError = %q, want %q wrapping %v", err, tt.want, tt.is)
			}
		})
	}
}

func TestExplainDeadline(t *testing.T) {
	o := Options{Timeout: 3 * time.Second}
	err := fmt.Errorf("request: %w", context.DeadlineExceeded)
	if got, want := explain(err, o), ". No answer came within --timeout 3s; raise it if the server is slow."; got != want {
		t.Errorf("explain(deadline) = %q, want %q", got, want)
	}
	if got := explain(errors.New("boom"), o); got != "" {
		t.Errorf("explain(other) = %q, want nothing", got)
	}
}
