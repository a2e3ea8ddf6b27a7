package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics v0-v7. Any replication factor is accepted: data is durable in
// the object store, not in copies on agents.
func init() {
	register(api{key: 19, min: 0, max: 7, handle: immediate(handleCreateTopics)})
}

func handleCreateTopics(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	s := c.s
	for _, rt := range req.Topics {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = rt.Topic
		t.NumPartitions, t.ReplicationFactor = -1, -1
		fail := func(code int16, msg string) {
			t.ErrorCode = code
			t.ErrorMessage = &msg
			resp.Topics = append(resp.Topics, t)
		}
		partitions := rt.NumPartitions
		if partitions == -1 {
			partitions = s.cfg.DefaultPartitions
		}
		if len(rt.ReplicaAssignment) > 0 {
			fail(kerr.InvalidRequest.Code, "manual replica assignment has no meaning in Wisp: every agent serves every partition; set the partition count instead")
			continue
		}
		if partitions < 1 {
			fail(kerr.InvalidPartitions.Code, "number of partitions must be at least 1")
			continue
		}
		configs := map[string]string{}
		for _, rc := range rt.Configs {
			if rc.Value != nil {
				configs[rc.Name] = *rc.Value
			}
		}
		if err := validateTopicConfigs(configs); err != nil {
			fail(kerr.InvalidConfig.Code, err.Error())
			continue
		}
		if req.ValidateOnly {
			if _, exists := s.backend.Metadata().Topic(rt.Topic); exists {
				fail(kerr.TopicAlreadyExists.Code, "topic "+rt.Topic+" already exists")
				continue
			}
			t.NumPartitions, t.ReplicationFactor = partitions, 1
			resp.Topics = append(resp.Topics, t)
			continue
		}
		res, err := s.createTopic(c.ctx, rt.Topic, partitions, configs)
		if err != nil {
			fail(kerr.RequestTimedOut.Code, "could not commit topic creation: "+err.Error())
			continue
		}
		if res.ErrorCode != 0 {
			fail(res.ErrorCode, res.ErrorMessage)
			continue
		}
		t.TopicID = res.Topic.ID
		t.NumPartitions, t.ReplicationFactor = res.Topic.Partitions, 1
		for _, d := range describeTopicConfigs(res.Topic.Configs, nil) {
			rc := kmsg.NewCreateTopicsResponseTopicConfig()
			rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = d.Name, d.Value, d.ReadOnly, d.Source, d.IsSensitive
			t.Configs = append(t.Configs, rc)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
