package kafka

import (
	"context"
	"crypto/rand"
	"hash/fnv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// Metadata v0-v13. v10+ may name topics by id; v13 adds a top-level error.
func init() {
	register(api{key: 3, min: 0, max: 13, handle: immediate(handleMetadata)})
}

func handleMetadata(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	s := c.s
	md := s.backend.Metadata()

	brokers := zoneBrokers(c.brokers(), clientZone(c.clientID))
	for _, b := range brokers {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = b.NodeID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	id := md.ClusterID()
	resp.ClusterID = &id
	resp.ControllerID = brokers[0].NodeID

	allowCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var topics []fsm.TopicInfo
	var missing []kmsg.MetadataResponseTopic
	switch {
	case req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0):
		topics = md.Topics()
	default:
		for _, rt := range req.Topics {
			var (
				t  fsm.TopicInfo
				ok bool
			)
			if rt.Topic != nil && *rt.Topic != "" {
				t, ok = s.topicByName(c.ctx, *rt.Topic)
				if !ok && allowCreate {
					var code int16
					t, code = s.autoCreateTopic(c.ctx, *rt.Topic)
					ok = code == 0
					if !ok {
						missing = append(missing, metadataTopicError(rt.Topic, rt.TopicID, code))
						continue
					}
				}
			} else {
				t, ok = s.topicByID(c.ctx, rt.TopicID)
			}
			if !ok {
				missing = append(missing, metadataTopicError(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition.Code))
				continue
			}
			topics = append(topics, t)
		}
	}
	for _, t := range topics {
		resp.Topics = append(resp.Topics, metadataTopic(t, brokers))
	}
	resp.Topics = append(resp.Topics, missing...)
	return resp
}

func metadataTopicError(name *string, id [16]byte, code int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID, mt.ErrorCode = name, id, code
	return mt
}

func metadataTopic(t fsm.TopicInfo, brokers []Broker) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		leader := partitionLeader(t.ID, p, brokers)
		mp.Leader = leader
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{leader}
		mp.ISR = []int32{leader}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// clientZone returns the zone a client asks for with wisp_az=ZONE among the
// comma-separated key=value pairs of its client.id, or "".
func clientZone(clientID string) string {
	for _, kv := range strings.Split(clientID, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "wisp_az" {
			return v
		}
	}
	return ""
}

// zoneBrokers keeps the brokers of zone, so a zone-aware client's traffic
// stays in its zone; with no zone, or none of its agents alive, every broker
// is returned: availability wins over locality.
func zoneBrokers(all []Broker, zone string) []Broker {
	if zone == "" {
		return all
	}
	var in []Broker
	for _, b := range all {
		if b.Rack != nil && *b.Rack == zone {
			in = append(in, b)
		}
	}
	if len(in) == 0 {
		return all
	}
	return in
}

// partitionLeader names the agent clients should send a partition's traffic
// to. Every agent serves every partition; spreading leaders by hash spreads
// producers' connections over the cluster.
func partitionLeader(topicID [16]byte, p int32, brokers []Broker) int32 {
	if len(brokers) == 1 {
		return brokers[0].NodeID
	}
	h := fnv.New32a()
	h.Write(topicID[:])
	h.Write([]byte{byte(p >> 24), byte(p >> 16), byte(p >> 8), byte(p)})
	return brokers[h.Sum32()%uint32(len(brokers))].NodeID
}

// autoCreateTopic creates name with the default partition count, or returns
// the topic if another request created it first.
func (s *Server) autoCreateTopic(ctx context.Context, name string) (fsm.TopicInfo, int16) {
	s.autoCreate.Lock()
	defer s.autoCreate.Unlock()
	if t, ok := s.backend.Metadata().Topic(name); ok {
		return t, 0
	}
	res, err := s.createTopic(ctx, name, s.cfg.DefaultPartitions, nil)
	if err != nil {
		s.log.Warn("auto-creating topic failed", "topic", name, "err", err)
		return fsm.TopicInfo{}, kerr.RequestTimedOut.Code
	}
	if res.ErrorCode == kerr.TopicAlreadyExists.Code {
		if t, ok := s.topicByName(ctx, name); ok {
			return t, 0
		}
	}
	if res.ErrorCode == 0 {
		s.log.Info("auto-created topic", "topic", name, "partitions", res.Topic.Partitions)
	}
	return res.Topic, res.ErrorCode
}

func (s *Server) createTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (fsm.TopicResult, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fsm.TopicResult{}, err
	}
	// UUIDv4 bits, so tools that parse topic ids as UUIDs are content.
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return s.applyTopic(ctx, &fsm.CreateTopic{
		Name:       name,
		ID:         id,
		Partitions: partitions,
		Configs:    configs,
		NowMs:      time.Now().UnixMilli(),
	})
}
