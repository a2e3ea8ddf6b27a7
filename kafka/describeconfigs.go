package kafka

import (
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs v0-v4 for topics and brokers.
func init() {
	register(api{key: 32, min: 0, max: 4, handle: immediate(handleDescribeConfigs)})
}

// Config sources as DescribeConfigs v1+ reports them. Tools such as
// kafka-configs show only DYNAMIC_TOPIC_CONFIG entries as a topic's
// overrides, so the source must be exact.
const (
	sourceDynamicTopic  = 1
	sourceStaticBroker  = 4
	sourceDefault       = 5
	resourceTypeTopic   = 2
	resourceTypeBroker  = 4
	configTypeUnknown   = 0
	describeAllResource = -1
)

type describedConfig struct {
	Name        string
	Value       *string
	ReadOnly    bool
	Source      int8
	IsSensitive bool
}

// describeTopicConfigs lists every known topic config, overrides first by
// name order, filtered to names when names is non-nil.
func describeTopicConfigs(overrides map[string]string, names []string) []describedConfig {
	want := func(string) bool { return true }
	if names != nil {
		set := map[string]bool{}
		for _, n := range names {
			set[n] = true
		}
		want = func(n string) bool { return set[n] }
	}
	var out []describedConfig
	for _, name := range sortedTopicConfigNames() {
		if !want(name) {
			continue
		}
		d := describedConfig{Name: name, Source: sourceDefault}
		v := topicConfigs[name].def
		if o, ok := overrides[name]; ok {
			v, d.Source = o, sourceDynamicTopic
		}
		d.Value = &v
		out = append(out, d)
	}
	return out
}

func (s *Server) brokerConfigs() map[string]string {
	return map[string]string{
		"broker.id":                  strconv.Itoa(int(s.cfg.NodeID)),
		"node.id":                    strconv.Itoa(int(s.cfg.NodeID)),
		"auto.create.topics.enable":  strconv.FormatBool(s.cfg.AutoCreateTopics),
		"num.partitions":             strconv.Itoa(int(s.cfg.DefaultPartitions)),
		"message.max.bytes":          topicConfigs["max.message.bytes"].def,
		"socket.request.max.bytes":   strconv.Itoa(int(s.cfg.MaxRequestBytes)),
		"default.replication.factor": "1",
		"min.insync.replicas":        "1",
		"log.retention.ms":           topicConfigs["retention.ms"].def,
	}
}

func handleDescribeConfigs(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	md := c.s.backend.Metadata()
	for _, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		var configs []describedConfig
		switch rr.ResourceType {
		case resourceTypeTopic:
			info, ok := md.Topic(rr.ResourceName)
			if !ok {
				r.ErrorCode = kerr.UnknownTopicOrPartition.Code
				msg := "topic " + rr.ResourceName + " does not exist"
				r.ErrorMessage = &msg
				break
			}
			configs = describeTopicConfigs(info.Configs, rr.ConfigNames)
		case resourceTypeBroker:
			// Every agent shares one configuration shape, so any agent
			// answers for any broker id.
			bc := c.s.brokerConfigs()
			for _, name := range slices.Sorted(maps.Keys(bc)) {
				if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, name) {
					continue
				}
				v := bc[name]
				configs = append(configs, describedConfig{Name: name, Value: &v, ReadOnly: true, Source: sourceStaticBroker})
			}
		default:
			r.ErrorCode = kerr.InvalidRequest.Code
			msg := "Wisp describes configs of topics (2) and brokers (4) only"
			r.ErrorMessage = &msg
		}
		for _, d := range configs {
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = d.Name, d.Value, d.ReadOnly, kmsg.ConfigSource(d.Source), d.IsSensitive
			rc.IsDefault = d.Source == sourceDefault
			rc.ConfigType = configTypeUnknown
			r.Configs = append(r.Configs, rc)
		}
		resp.Resources = append(resp.Resources, r)
	}
	return resp
}
