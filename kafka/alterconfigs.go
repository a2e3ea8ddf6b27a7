package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// AlterConfigs v0-v2 for topics. The request names a topic's complete set of
// overrides: configs it leaves out return to their defaults, as in Kafka.
// Broker configs are static (flags and files) and cannot be altered.
func init() {
	register(api{key: 33, min: 0, max: 2, handle: immediate(handleAlterConfigs)})
}

// configWriteTimeout bounds the Raft commit of one resource's change.
const configWriteTimeout = 10 * time.Second

// configError is a per-resource failure of AlterConfigs or
// IncrementalAlterConfigs: a Kafka error code and the message for the admin.
type configError struct {
	code int16
	msg  string
}

func configErrorf(e *kerr.Error, format string, args ...any) *configError {
	return &configError{code: e.Code, msg: fmt.Sprintf(format, args...)}
}

func handleAlterConfigs(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		if err := alterConfigsResource(c, rr, req.ValidateOnly); err != nil {
			r.ErrorCode, r.ErrorMessage = err.code, &err.msg
		}
		resp.Resources = append(resp.Resources, r)
	}
	return resp
}

func alterConfigsResource(c *clientConn, rr kmsg.AlterConfigsRequestResource, validateOnly bool) *configError {
	if err := checkTopicResource(int8(rr.ResourceType)); err != nil {
		return err
	}
	set := make(map[string]string, len(rr.Configs))
	for _, rc := range rr.Configs {
		if _, dup := set[rc.Name]; dup {
			return configErrorf(kerr.InvalidRequest, "config %q is named twice", rc.Name)
		}
		if rc.Value == nil {
			return configErrorf(kerr.InvalidRequest, "null value not supported for topic config %q", rc.Name)
		}
		set[rc.Name] = *rc.Value
	}
	if err := validateTopicConfigs(set); err != nil {
		return configErrorf(kerr.InvalidConfig, "%v", err)
	}
	return applyTopicConfigs(c, rr.ResourceName, validateOnly, fsm.AlterTopicConfigs{Replace: true, Set: set})
}

// checkTopicResource refuses anything but topic resources.
func checkTopicResource(resourceType int8) *configError {
	switch resourceType {
	case resourceTypeTopic:
		return nil
	case resourceTypeBroker:
		return configErrorf(kerr.InvalidRequest, "Wisp agents' configs are static (flags, environment, config file); restart the agent to change them")
	}
	return configErrorf(kerr.InvalidRequest, "Wisp alters configs of topics (resource type 2) only, got resource type %d", resourceType)
}

// applyTopicConfigs commits cmd for the named topic, unless validateOnly, in
// which case it only checks that the topic exists.
func applyTopicConfigs(c *clientConn, name string, validateOnly bool, cmd fsm.AlterTopicConfigs) *configError {
	ctx, cancel := context.WithTimeout(c.ctx, configWriteTimeout)
	defer cancel()
	if _, ok := c.s.topicByName(ctx, name); !ok {
		return configErrorf(kerr.UnknownTopicOrPartition, "topic %s does not exist", name)
	}
	if validateOnly {
		return nil
	}
	cmd.Name = name
	res, err := c.s.applyTopic(ctx, &cmd)
	switch {
	case err != nil:
		return configErrorf(kerr.RequestTimedOut, "could not commit the config change: %v", err)
	case res.ErrorCode != 0:
		return &configError{code: res.ErrorCode, msg: res.ErrorMessage}
	}
	c.s.log.Info("altered topic configs", "topic", name, "overrides", res.Topic.Configs)
	return nil
}
