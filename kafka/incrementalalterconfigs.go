package kafka

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// IncrementalAlterConfigs v0-v1 for topics: SET, DELETE, and APPEND/SUBTRACT
// on list configs, as Kafka defines them. Only the named configs change; the
// Raft command carries the changes, not the whole set, so two admins
// altering different configs at once do not undo each other.
func init() {
	register(api{key: 44, min: 0, max: 1, handle: immediate(handleIncrementalAlterConfigs)})
}

// listTopicConfigs are the topic configs whose value is a comma-separated
// list, the only ones APPEND and SUBTRACT apply to.
var listTopicConfigs = map[string]bool{
	"cleanup.policy": true,
	"follower.replication.throttled.replicas": true,
	"leader.replication.throttled.replicas":   true,
}

func handleIncrementalAlterConfigs(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewIncrementalAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		if err := incrementalAlterResource(c, rr, req.ValidateOnly); err != nil {
			r.ErrorCode, r.ErrorMessage = err.code, &err.msg
		}
		resp.Resources = append(resp.Resources, r)
	}
	return resp
}

func incrementalAlterResource(c *clientConn, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) *configError {
	if err := checkTopicResource(int8(rr.ResourceType)); err != nil {
		return err
	}
	// APPEND and SUBTRACT start from the current value; a concurrent change
	// of the same list config may be lost, as in Kafka, where the broker
	// reads then writes too.
	ctx, cancel := context.WithTimeout(c.ctx, configWriteTimeout)
	info, ok := c.s.topicByName(ctx, rr.ResourceName)
	cancel()
	if !ok {
		return configErrorf(kerr.UnknownTopicOrPartition, "topic %s does not exist", rr.ResourceName)
	}
	cmd, err := incrementalChanges(rr.Configs, info.Configs)
	if err != nil {
		return err
	}
	return applyTopicConfigs(c, rr.ResourceName, validateOnly, cmd)
}

// incrementalChanges turns the requested operations into a non-replacing
// AlterTopicConfigs, validating names and resulting values. current holds
// the topic's overrides.
func incrementalChanges(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, current map[string]string) (fsm.AlterTopicConfigs, *configError) {
	cmd := fsm.AlterTopicConfigs{Set: map[string]string{}}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return cmd, configErrorf(kerr.InvalidRequest, "config %q is named twice", op.Name)
		}
		seen[op.Name] = true
		tc, known := topicConfigs[op.Name]
		if !known {
			return cmd, configErrorf(kerr.InvalidConfig, "unknown topic config %q", op.Name)
		}
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return cmd, configErrorf(kerr.InvalidRequest, "null value not supported for %v of topic config %q", op.Op, op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			cmd.Set[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			cmd.Delete = append(cmd.Delete, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if !listTopicConfigs[op.Name] {
				return cmd, configErrorf(kerr.InvalidConfig, "config %q is not a list: %v is not allowed", op.Name, op.Op)
			}
			cur, ok := current[op.Name]
			if !ok {
				cur = tc.def
			}
			cmd.Set[op.Name] = alterList(cur, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return cmd, configErrorf(kerr.InvalidRequest, "unknown config operation %d for %q", op.Op, op.Name)
		}
	}
	if err := validateTopicConfigs(cmd.Set); err != nil {
		return cmd, configErrorf(kerr.InvalidConfig, "%v", err)
	}
	return cmd, nil
}

// alterList appends the items of change missing from cur, or removes them.
func alterList(cur, change string, add bool) string {
	split := func(s string) []string {
		var out []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	items := split(cur)
	for _, v := range split(change) {
		has := slices.Contains(items, v)
		switch {
		case add && !has:
			items = append(items, v)
		case !add && has:
			items = slices.DeleteFunc(items, func(x string) bool { return x == v })
		}
	}
	return strings.Join(items, ",")
}
