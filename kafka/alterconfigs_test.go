package kafka

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

func TestIncrementalChanges(t *testing.T) {
	str := func(s string) *string { return &s }
	op := func(name string, o kmsg.IncrementalAlterConfigOp, v *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		return kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: name, Op: o, Value: v}
	}
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	tests := []struct {
		name    string
		ops     []kmsg.IncrementalAlterConfigsRequestResourceConfig
		current map[string]string
		want    fsm.AlterTopicConfigs
		code    int16
	}{
		{"set and delete", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", set, str("1000")), op("retention.bytes", del, nil)}, nil,
			fsm.AlterTopicConfigs{Set: map[string]string{"retention.ms": "1000"}, Delete: []string{"retention.bytes"}}, 0},
		{"append to the default list", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("cleanup.policy", appendOp, str("compact"))}, nil,
			fsm.AlterTopicConfigs{Set: map[string]string{"cleanup.policy": "delete,compact"}}, 0},
		{"append an item already there", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("cleanup.policy", appendOp, str("compact"))}, map[string]string{"cleanup.policy": "compact"},
			fsm.AlterTopicConfigs{Set: map[string]string{"cleanup.policy": "compact"}}, 0},
		{"subtract from the override", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("cleanup.policy", subtract, str("delete"))}, map[string]string{"cleanup.policy": "compact,delete"},
			fsm.AlterTopicConfigs{Set: map[string]string{"cleanup.policy": "compact"}}, 0},
		{"subtract leaving an invalid empty policy", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("cleanup.policy", subtract, str("delete"))}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidConfig.Code},
		{"append to a scalar", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", appendOp, str("5"))}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidConfig.Code},
		{"bad value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", set, str("-2"))}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidConfig.Code},
		{"unknown config", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.weeks", del, nil)}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidConfig.Code},
		{"null value on set", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", set, nil)}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidRequest.Code},
		{"named twice", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", set, str("1")), op("retention.ms", del, nil)}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidRequest.Code},
		{"unknown operation", []kmsg.IncrementalAlterConfigsRequestResourceConfig{
			op("retention.ms", 9, str("1"))}, nil, fsm.AlterTopicConfigs{}, kerr.InvalidRequest.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := incrementalChanges(tt.ops, tt.current)
			if tt.code != 0 {
				if err == nil || err.code != tt.code {
					t.Fatalf("error %+v, want code %d", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %+v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
