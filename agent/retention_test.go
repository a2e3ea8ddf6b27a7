package agent

import (
	"math"
	"testing"
)

func TestTopicRetention(t *testing.T) {
	const now = 1_000_000_000_000
	tests := []struct {
		name         string
		configs      map[string]string
		expireBefore int64
		maxBytes     int64
		ok           bool
	}{
		{"defaults: seven days, no size limit", nil, now - 604_800_000, -1, true},
		{"retention.ms override", map[string]string{"retention.ms": "1000"}, now - 1000, -1, true},
		{"forever and unlimited does nothing", map[string]string{"retention.ms": "-1"}, 0, 0, false},
		{"forever with a size limit", map[string]string{"retention.ms": "-1", "retention.bytes": "100"}, math.MinInt64, 100, true},
		{"compact only is not retention's", map[string]string{"cleanup.policy": "compact", "retention.ms": "1"}, 0, 0, false},
		{"compact,delete is", map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "1"}, now - 1, -1, true},
		{"retention longer than the epoch", map[string]string{"retention.ms": "9223372036854775807", "retention.bytes": "5"}, math.MinInt64, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, b, ok := topicRetention(tt.configs, now)
			if ok != tt.ok || (ok && (e != tt.expireBefore || b != tt.maxBytes)) {
				t.Fatalf("topicRetention = %d, %d, %v; want %d, %d, %v", e, b, ok, tt.expireBefore, tt.maxBytes, tt.ok)
			}
		})
	}
}
