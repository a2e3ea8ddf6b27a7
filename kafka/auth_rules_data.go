package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization rules of the data and offset APIs (see auth_rules.go).

var (
	topicDenied = kerr.TopicAuthorizationFailed.Code
	groupDenied = kerr.GroupAuthorizationFailed.Code
)

func init() {
	authRules[0] = authorizeProduce
	authRules[1] = authorizeFetch
	authRules[2] = authorizeListOffsets
	authRules[3] = authorizeMetadata
	authRules[8] = authorizeOffsetCommit
	authRules[9] = authorizeOffsetFetch
	authRules[10] = authorizeFindCoordinator
}

// Produce: WRITE on each topic (TOPIC_AUTHORIZATION_FAILED for its
// partitions), WRITE on the transactional id of a transactional request. As
// in Kafka, an acks=0 request with a refused part closes the connection.
func authorizeProduce(c *clientConn, kreq kmsg.Request, in *inflight) authResult {
	req := kreq.(*kmsg.ProduceRequest)
	errs := func(topics []kmsg.ProduceRequestTopic, code int16) []kmsg.ProduceResponseTopic {
		var out []kmsg.ProduceResponseTopic
		for _, rt := range topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic, t.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition, p.ErrorCode, p.BaseOffset = rp.Partition, code, -1
				t.Partitions = append(t.Partitions, p)
			}
			out = append(out, t)
		}
		return out
	}
	deny := func(topics []kmsg.ProduceRequestTopic, code int16) authResult {
		if req.Acks == 0 {
			in.closeAfter = true
			return authResult{skip: true}
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Topics = errs(topics, code)
		return authResult{deny: resp}
	}
	if req.TransactionID != nil && !c.authorized(opWrite, resTxnID, *req.TransactionID) {
		return deny(req.Topics, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	var kept, refused []kmsg.ProduceRequestTopic
	for _, t := range req.Topics {
		if c.topicAllowed(opWrite, t.Topic, t.TopicID) {
			kept = append(kept, t)
		} else {
			refused = append(refused, t)
		}
	}
	switch {
	case len(refused) == 0:
		return authResult{}
	case len(kept) == 0:
		return deny(refused, topicDenied)
	}
	req.Topics = kept
	if req.Acks == 0 {
		in.closeAfter = true
		return authResult{}
	}
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
		resp.Topics = append(resp.Topics, errs(refused, topicDenied)...)
	}}
}

// Fetch: READ on each topic. A fetch with nothing left is answered at once
// rather than long-polling on nothing.
func authorizeFetch(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.FetchRequest)
	var errs []kmsg.FetchResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(rt kmsg.FetchRequestTopic) bool { return c.topicAllowed(opRead, rt.Topic, rt.TopicID) },
		func(rt kmsg.FetchRequestTopic) kmsg.FetchResponseTopic {
			t := kmsg.NewFetchResponseTopic()
			t.Topic, t.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				p := kmsg.NewFetchResponseTopicPartition()
				p.Partition, p.ErrorCode, p.HighWatermark = rp.Partition, topicDenied, -1
				t.Partitions = append(t.Partitions, p)
			}
			return t
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.FetchResponseTopic {
		return &r.(*kmsg.FetchResponse).Topics
	})
}

// ListOffsets: DESCRIBE on each topic.
func authorizeListOffsets(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.ListOffsetsRequest)
	var errs []kmsg.ListOffsetsResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(rt kmsg.ListOffsetsRequestTopic) bool { return c.authorized(opDescribe, resTopic, rt.Topic) },
		func(rt kmsg.ListOffsetsRequestTopic) kmsg.ListOffsetsResponseTopic {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, topicDenied
				t.Partitions = append(t.Partitions, p)
			}
			return t
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.ListOffsetsResponseTopic {
		return &r.(*kmsg.ListOffsetsResponse).Topics
	})
}

// Metadata: DESCRIBE on each topic. Listing every topic shows only the
// describable ones; a named topic that may not be described is
// TOPIC_AUTHORIZATION_FAILED without saying whether it exists. Auto-creation
// needs CREATE on the cluster or the topic; without it a missing topic is
// TOPIC_AUTHORIZATION_FAILED too.
func authorizeMetadata(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.MetadataRequest)
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		return authResult{patch: func(r kmsg.Response) {
			resp := r.(*kmsg.MetadataResponse)
			kept := resp.Topics[:0]
			for _, t := range resp.Topics {
				if t.Topic != nil && c.authorized(opDescribe, resTopic, *t.Topic) {
					kept = append(kept, t)
				}
			}
			resp.Topics = kept
		}}
	}
	allowCreate := c.s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	kept := make([]kmsg.MetadataRequestTopic, 0, len(req.Topics)) // non-nil: nil would mean every topic
	var errs []kmsg.MetadataResponseTopic
	for _, rt := range req.Topics {
		var zero [16]byte
		if rt.Topic != nil && *rt.Topic != "" {
			name := *rt.Topic
			if !c.authorized(opDescribe, resTopic, name) {
				errs = append(errs, metadataTopicError(rt.Topic, zero, topicDenied))
				continue
			}
			if allowCreate {
				if _, exists := c.s.topicByName(c.ctx, name); !exists &&
					!c.authorized(opCreate, resCluster, "") && !c.authorized(opCreate, resTopic, name) {
					errs = append(errs, metadataTopicError(rt.Topic, zero, topicDenied))
					continue
				}
			}
		} else if !c.topicAllowed(opDescribe, "", rt.TopicID) {
			// Topic ids are not secret: Kafka answers with the id.
			errs = append(errs, metadataTopicError(nil, rt.TopicID, topicDenied))
			continue
		}
		kept = append(kept, rt)
	}
	if len(errs) == 0 {
		return authResult{}
	}
	if len(kept) == 0 && req.Version == 0 {
		// v0 has no way to ask for no topics: list none by hand.
		req.Topics = nil
		return authResult{patch: func(r kmsg.Response) { r.(*kmsg.MetadataResponse).Topics = errs }}
	}
	req.Topics = kept
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.MetadataResponse)
		resp.Topics = append(resp.Topics, errs...)
	}}
}

// OffsetCommit: READ on the group (every partition refused otherwise) and
// READ on each topic.
func authorizeOffsetCommit(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.OffsetCommitRequest)
	groupOK, code := c.authorized(opRead, resGroup, req.Group), topicDenied
	if !groupOK {
		if len(req.Topics) == 0 {
			return authResult{deny: req.ResponseKind()}
		}
		code = groupDenied
	}
	var errs []kmsg.OffsetCommitResponseTopic
	req.Topics, errs = filterParts(req.Topics,
		func(rt kmsg.OffsetCommitRequestTopic) bool {
			return groupOK && c.authorized(opRead, resTopic, rt.Topic)
		},
		func(rt kmsg.OffsetCommitRequestTopic) kmsg.OffsetCommitResponseTopic {
			t := kmsg.NewOffsetCommitResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewOffsetCommitResponseTopicPartition()
				p.Partition, p.ErrorCode = rp.Partition, code
				t.Partitions = append(t.Partitions, p)
			}
			return t
		})
	return refuseParts(req, len(req.Topics), errs, func(r kmsg.Response) *[]kmsg.OffsetCommitResponseTopic {
		return &r.(*kmsg.OffsetCommitResponse).Topics
	})
}

// OffsetFetch: DESCRIBE on the group and on each topic, as Kafka. It only
// reads, so the handler runs and the answer is then censored: a refused
// group gets GROUP_AUTHORIZATION_FAILED and no offsets; a refused topic's
// partitions TOPIC_AUTHORIZATION_FAILED, or, when every topic was asked
// for, nothing.
func authorizeOffsetFetch(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.OffsetFetchRequest)
	censor := func(g *kmsg.OffsetFetchResponseGroup, all bool, perPartitionGroupError bool) {
		if !c.authorized(opDescribe, resGroup, g.Group) {
			g.ErrorCode = groupDenied
			if !perPartitionGroupError {
				g.Topics = nil
				return
			}
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			code := int16(0)
			switch {
			case g.ErrorCode == groupDenied:
				code = groupDenied
			case !c.authorized(opDescribe, resTopic, t.Topic):
				if all {
					continue
				}
				code = topicDenied
			}
			if code != 0 {
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, kmsg.StringPtr(""), code
				}
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.OffsetFetchResponse)
		if req.Version >= 8 {
			for i := range resp.Groups {
				all := i < len(req.Groups) && req.Groups[i].Topics == nil
				censor(&resp.Groups[i], all, false)
			}
			return
		}
		// v0-v7: one group, flattened into the response.
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = req.Group, resp.ErrorCode
		for _, t := range resp.Topics {
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.Topic = t.Topic
			for _, p := range t.Partitions {
				gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				gt.Partitions = append(gt.Partitions, gp)
			}
			g.Topics = append(g.Topics, gt)
		}
		censor(&g, req.Topics == nil, req.Version < 2)
		resp.ErrorCode, resp.Topics = g.ErrorCode, nil
		if req.Version < 2 {
			resp.ErrorCode = 0 // v0-v1 carry it per partition
		}
		for _, gt := range g.Topics {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
	}}
}

// FindCoordinator: DESCRIBE on the group (or transactional id) of each key.
func authorizeFindCoordinator(c *clientConn, kreq kmsg.Request, _ *inflight) authResult {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resType, code := resGroup, groupDenied
	if req.CoordinatorType == coordinatorTransaction {
		resType, code = resTxnID, kerr.TransactionalIDAuthorizationFailed.Code
	}
	return authResult{patch: func(r kmsg.Response) {
		resp := r.(*kmsg.FindCoordinatorResponse)
		if req.Version < 4 {
			if !c.authorized(opDescribe, resType, req.CoordinatorKey) {
				resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = code, nil, -1, "", -1
			}
			return
		}
		for i := range resp.Coordinators {
			rc := &resp.Coordinators[i]
			if !c.authorized(opDescribe, resType, rc.Key) {
				rc.ErrorCode, rc.ErrorMessage, rc.NodeID, rc.Host, rc.Port = code, nil, -1, "", -1
			}
		}
	}}
}
