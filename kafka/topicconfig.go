package kafka

import (
	"fmt"
	"sort"
	"strconv"
)

// topicConfig describes one topic-level config Wisp knows: its Kafka default
// and how to check a value.
type topicConfig struct {
	def   string
	check func(string) error
}

func isInt(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < min {
			return fmt.Errorf("%d is below the minimum %d", n, min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %v", v, vals)
	}
}

// topicConfigs are the topic configs accepted by CreateTopics and shown by
// DescribeConfigs. Replication settings are accepted for tool compatibility:
// every byte already lives in the object store.
var topicConfigs = map[string]topicConfig{
	"cleanup.policy":                          {"delete", oneOf("delete", "compact", "compact,delete", "delete,compact")},
	"compression.type":                        {"producer", oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	"delete.retention.ms":                     {"86400000", isInt(0)},
	"file.delete.delay.ms":                    {"60000", isInt(0)},
	"flush.messages":                          {"9223372036854775807", isInt(1)},
	"flush.ms":                                {"9223372036854775807", isInt(0)},
	"index.interval.bytes":                    {"4096", isInt(0)},
	"max.compaction.lag.ms":                   {"9223372036854775807", isInt(1)},
	"max.message.bytes":                       {"1048588", isInt(0)},
	"message.timestamp.type":                  {"CreateTime", oneOf("CreateTime", "LogAppendTime")},
	"message.timestamp.before.max.ms":         {"9223372036854775807", isInt(0)},
	"message.timestamp.after.max.ms":          {"9223372036854775807", isInt(0)},
	"min.cleanable.dirty.ratio":               {"0.5", nil},
	"min.compaction.lag.ms":                   {"0", isInt(0)},
	"min.insync.replicas":                     {"1", isInt(1)},
	"preallocate":                             {"false", oneOf("true", "false")},
	"retention.bytes":                         {"-1", isInt(-1)},
	"retention.ms":                            {"604800000", isInt(-1)},
	"segment.bytes":                           {"1073741824", isInt(14)},
	"segment.index.bytes":                     {"10485760", isInt(4)},
	"segment.jitter.ms":                       {"0", isInt(0)},
	"segment.ms":                              {"604800000", isInt(1)},
	"unclean.leader.election.enable":          {"false", oneOf("true", "false")},
	"message.downconversion.enable":           {"true", oneOf("true", "false")},
	"local.retention.bytes":                   {"-2", isInt(-2)},
	"local.retention.ms":                      {"-2", isInt(-2)},
	"remote.storage.enable":                   {"false", oneOf("false")},
	"follower.replication.throttled.replicas": {"", nil},
	"leader.replication.throttled.replicas":   {"", nil},
}

// validateTopicConfigs checks names and values; the error names the config.
func validateTopicConfigs(cfg map[string]string) error {
	for k, v := range cfg {
		tc, ok := topicConfigs[k]
		if !ok {
			return fmt.Errorf("unknown topic config %q", k)
		}
		if tc.check != nil {
			if err := tc.check(v); err != nil {
				return fmt.Errorf("invalid value for topic config %q: %w", k, err)
			}
		}
	}
	return nil
}

func sortedTopicConfigNames() []string {
	names := make([]string, 0, len(topicConfigs))
	for k := range topicConfigs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
