package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization rules of the topic, config and group admin APIs (see
// auth_rules.go).

func init() {
	authRules[19] = authorizeCreateTopics
	authRules[20] = authorizeDeleteTopics
	authRules[21] = authorizeDeleteRecords
	authRules[37] = authorizeCreatePartitions
	authRules[32] = authorizeDescribeConfigs
	authRules[33] = authorizeAlterConfigs
	authRules[44] = authorizeIncrementalAlterConfigs
	authRules[15] = authorizeDescribeGroups
	authRules[16] = authorizeListGroups
	authRules[42] = authorizeDeleteGroups
	authRules[47] = authorizeOffsetDelete
	authRules[69] = authorizeConsumerGroupDescribe
}

// CreateTopics: CREATE on the cluster or on each topic.
func authorizeCreateTopics(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.CreateTopicsRequest)
	if c.authorized(opCreate, resCluster, "") {
		return authResult{}
	}
	var errs []kmsg.CreateTopicsResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(t kmsg.CreateTopicsRequestTopic) bool { return c.authorized(opCreate, resTopic, t.Topic) },
		func(t kmsg.CreateTopicsRequestTopic) kmsg.CreateTopicsResponseTopic {
			r := kmsg.NewCreateTopicsResponseTopic()
			r.Topic, r.ErrorCode = t.Topic, topicDenied
			r.ErrorMessage = kmsg.StringPtr("creating a topic needs CREATE on the cluster or the topic")
			return r
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.CreateTopicsResponseTopic {
		return &r.(*kmsg.CreateTopicsResponse).Topics
	})
}

// DeleteTopics: DELETE on each topic (by name up to v5, name or id in v6).
func authorizeDeleteTopics(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	errOf := func(name *string, id [16]byte) kmsg.DeleteTopicsResponseTopic {
		r := kmsg.NewDeleteTopicsResponseTopic()
		r.Topic, r.TopicID, r.ErrorCode = name, id, topicDenied
		return r
	}
	var errs []kmsg.DeleteTopicsResponseTopic
	var left int
	if req.Version >= 6 {
		req.Topics, errs = filterParts(req.Topics,
			func(t kmsg.DeleteTopicsRequestTopic) bool {
				name := ""
				if t.Topic != nil {
					name = *t.Topic
				}
				return c.topicAllowed(opDelete, name, t.TopicID)
			},
			func(t kmsg.DeleteTopicsRequestTopic) kmsg.DeleteTopicsResponseTopic { return errOf(t.Topic, t.TopicID) })
		left = len(req.Topics)
	} else {
		req.TopicNames, errs = filterParts(req.TopicNames,
			func(n string) bool { return c.authorized(opDelete, resTopic, n) },
			func(n string) kmsg.DeleteTopicsResponseTopic { return errOf(kmsg.StringPtr(n), [16]byte{}) })
		left = len(req.TopicNames)
	}
	return refuseParts(req, left, errs, func(r kmsg.Response) *[]kmsg.DeleteTopicsResponseTopic {
		return &r.(*kmsg.DeleteTopicsResponse).Topics
	})
}

// DeleteRecords: DELETE on each topic.
func authorizeDeleteRecords(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	var errs []kmsg.DeleteRecordsResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(t kmsg.DeleteRecordsRequestTopic) bool { return c.authorized(opDelete, resTopic, t.Topic) },
		func(t kmsg.DeleteRecordsRequestTopic) kmsg.DeleteRecordsResponseTopic {
			r := kmsg.NewDeleteRecordsResponseTopic()
			r.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, topicDenied
				r.Partitions = append(r.Partitions, rp)
			}
			return r
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.DeleteRecordsResponseTopic {
		return &r.(*kmsg.DeleteRecordsResponse).Topics
	})
}

// CreatePartitions: ALTER on each topic.
func authorizeCreatePartitions(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	var errs []kmsg.CreatePartitionsResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(t kmsg.CreatePartitionsRequestTopic) bool { return c.authorized(opAlter, resTopic, t.Topic) },
		func(t kmsg.CreatePartitionsRequestTopic) kmsg.CreatePartitionsResponseTopic {
			r := kmsg.NewCreatePartitionsResponseTopic()
			r.Topic, r.ErrorCode = t.Topic, topicDenied
			return r
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.CreatePartitionsResponseTopic {
		return &r.(*kmsg.CreatePartitionsResponse).Topics
	})
}

// configAllowed checks op on a config resource: a topic, or the cluster for
// broker and broker-logger resources. It returns the refusal's code.
func (c *clientConn) configAllowed(op int8, typ kmsg.ConfigResourceType, name string) (bool, int16) {
	if typ == kmsg.ConfigResourceTypeTopic {
		return c.authorized(op, resTopic, name), topicDenied
	}
	return c.authorized(op, resCluster, ""), kerr.ClusterAuthorizationFailed.Code
}

// DescribeConfigs: DESCRIBE_CONFIGS on each topic, or on the cluster for
// brokers. Read-only: refused resources are blanked in the answer.
func authorizeDescribeConfigs(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.DescribeConfigsResponse)
		for i := range resp.Resources {
			res := &resp.Resources[i]
			if ok, code := c.configAllowed(opDescribeConfigs, res.ResourceType, res.ResourceName); !ok {
				res.ErrorCode, res.ErrorMessage, res.Configs = code, nil, nil
			}
		}
	}}
}

// AlterConfigs: ALTER_CONFIGS on each resource.
func authorizeAlterConfigs(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.AlterConfigsRequest)
	var errs []kmsg.AlterConfigsResponseResource
	req.Resources, errs = filterParts(req.Resources,
		func(res kmsg.AlterConfigsRequestResource) bool {
			ok, _ := c.configAllowed(opAlterConfigs, res.ResourceType, res.ResourceName)
			return ok
		},
		func(res kmsg.AlterConfigsRequestResource) kmsg.AlterConfigsResponseResource {
			r := kmsg.NewAlterConfigsResponseResource()
			_, r.ErrorCode = c.configAllowed(opAlterConfigs, res.ResourceType, res.ResourceName)
			r.ResourceType, r.ResourceName = res.ResourceType, res.ResourceName
			return r
		})
	return refuseParts(req, len(req.Resources), errs, func(r kmsg.Response) *[]kmsg.AlterConfigsResponseResource {
		return &r.(*kmsg.AlterConfigsResponse).Resources
	})
}

// IncrementalAlterConfigs: ALTER_CONFIGS on each resource.
func authorizeIncrementalAlterConfigs(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	var errs []kmsg.IncrementalAlterConfigsResponseResource
	req.Resources, errs = filterParts(req.Resources,
		func(res kmsg.IncrementalAlterConfigsRequestResource) bool {
			ok, _ := c.configAllowed(opAlterConfigs, res.ResourceType, res.ResourceName)
			return ok
		},
		func(res kmsg.IncrementalAlterConfigsRequestResource) kmsg.IncrementalAlterConfigsResponseResource {
			r := kmsg.NewIncrementalAlterConfigsResponseResource()
			_, r.ErrorCode = c.configAllowed(opAlterConfigs, res.ResourceType, res.ResourceName)
			r.ResourceType, r.ResourceName = res.ResourceType, res.ResourceName
			return r
		})
	return refuseParts(req, len(req.Resources), errs, func(r kmsg.Response) *[]kmsg.IncrementalAlterConfigsResponseResource {
		return &r.(*kmsg.IncrementalAlterConfigsResponse).Resources
	})
}

// DescribeGroups: DESCRIBE on each group; refused groups are blanked.
func authorizeDescribeGroups(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.DescribeGroupsResponse)
		for i := range resp.Groups {
			g := &resp.Groups[i]
			if !c.authorized(opDescribe, resGroup, g.Group) {
				group := g.Group
				*g = kmsg.NewDescribeGroupsResponseGroup()
				g.Group, g.ErrorCode = group, groupDenied
			}
		}
	}}
}

// ConsumerGroupDescribe: DESCRIBE on each group; refused groups are blanked.
func authorizeConsumerGroupDescribe(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.ConsumerGroupDescribeResponse)
		for i := range resp.Groups {
			g := &resp.Groups[i]
			if !c.authorized(opDescribe, resGroup, g.Group) {
				group := g.Group
				*g = kmsg.NewConsumerGroupDescribeResponseGroup()
				g.Group, g.ErrorCode = group, groupDenied
			}
		}
	}}
}

// ListGroups: everything with DESCRIBE on the cluster, else the groups the
// principal may describe.
func authorizeListGroups(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	if c.authorized(opDescribe, resCluster, "") {
		return authResult{}
	}
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.ListGroupsResponse)
		kept := resp.Groups[:0]
		for _, g := range resp.Groups {
			if c.authorized(opDescribe, resGroup, g.Group) {
				kept = append(kept, g)
			}
		}
		resp.Groups = kept
	}}
}

// DeleteGroups: DELETE on each group.
func authorizeDeleteGroups(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	var errs []kmsg.DeleteGroupsResponseGroup
	req.Groups, errs = filterParts(req.Groups,
		func(g string) bool { return c.authorized(opDelete, resGroup, g) },
		func(g string) kmsg.DeleteGroupsResponseGroup {
			r := kmsg.NewDeleteGroupsResponseGroup()
			r.Group, r.ErrorCode = g, groupDenied
			return r
		})
	return refuseParts(req, len(req.Groups), errs, func(r kmsg.Response) *[]kmsg.DeleteGroupsResponseGroup {
		return &r.(*kmsg.DeleteGroupsResponse).Groups
	})
}

// OffsetDelete: DELETE on the group, READ on each topic.
func authorizeOffsetDelete(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	if !c.authorized(opDelete, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = groupDenied
		return authResult{deny: resp}
	}
	var errs []kmsg.OffsetDeleteResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(t kmsg.OffsetDeleteRequestTopic) bool { return c.authorized(opRead, resTopic, t.Topic) },
		func(t kmsg.OffsetDeleteRequestTopic) kmsg.OffsetDeleteResponseTopic {
			r := kmsg.NewOffsetDeleteResponseTopic()
			r.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				r.Partitions = append(r.Partitions, rp)
			}
			return r
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.OffsetDeleteResponseTopic {
		return &r.(*kmsg.OffsetDeleteResponse).Topics
	})
}
