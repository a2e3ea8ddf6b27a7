package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/wisp-stream/wisp/fsm"
)

// adminTimeout bounds one console action that goes through the Kafka
// protocol (creating or deleting a topic, describing groups).
const adminTimeout = 10 * time.Second

// PartitionDetail is one partition in the topics API.
type PartitionDetail struct {
	Partition      int32 `json:"partition"`
	LogStartOffset int64 `json:"logStartOffset"`
	HighWatermark  int64 `json:"highWatermark"`
	// Bytes is the data the partition's manifest points at.
	Bytes int64 `json:"bytes"`
	// Entries is the number of manifest entries (runs of batches in a file).
	Entries int `json:"entries"`
	// FilesPerLevel counts the distinct data files holding this partition's
	// entries, by compaction level ("0": written by a flush).
	FilesPerLevel map[string]int `json:"filesPerLevel"`
}

// TopicDetail is one topic in GET /api/v1/topics and GET /api/v1/topics/{topic}.
type TopicDetail struct {
	Name string `json:"name"`
	// ID is the topic id as Kafka prints it (base64url, no padding).
	ID             string            `json:"id"`
	PartitionCount int32             `json:"partitionCount"`
	CreatedMs      int64             `json:"createdMs"`
	Configs        map[string]string `json:"configs"`
	Bytes          int64             `json:"bytes"`
	// Records is the sum over partitions of high watermark minus log start
	// offset (compacted topics may hold fewer).
	Records    int64             `json:"records"`
	Partitions []PartitionDetail `json:"partitions"`
}

// TopicsResponse is GET /api/v1/topics.
type TopicsResponse struct {
	Topics []TopicDetail `json:"topics"` // sorted by name
}

// CreateTopicRequest is the body of POST /api/v1/topics.
type CreateTopicRequest struct {
	Name       string            `json:"name"`
	Partitions int32             `json:"partitions"` // 0 or absent: --default-partitions
	Configs    map[string]string `json:"configs"`
}

func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (a *Agent) topicDetail(t fsm.TopicInfo) TopicDetail {
	d := TopicDetail{
		Name: t.Name, ID: topicIDString(t.ID), PartitionCount: t.Partitions, CreatedMs: t.CreatedMs,
		Configs: t.Configs, Partitions: make([]PartitionDetail, 0, t.Partitions),
	}
	if d.Configs == nil {
		d.Configs = map[string]string{}
	}
	level := map[string]int32{} // file key -> level, looked up once per file
	for p := int32(0); p < t.Partitions; p++ {
		entries, info, ok := a.fsm.Entries(t.ID, p, 0, math.MaxInt)
		if !ok {
			continue // deleted while we looked
		}
		pd := PartitionDetail{
			Partition: p, LogStartOffset: info.LogStartOffset, HighWatermark: info.HighWatermark,
			Bytes: info.Bytes, Entries: info.Entries, FilesPerLevel: map[string]int{},
		}
		counted := map[string]bool{}
		for _, e := range entries {
			if counted[e.Key] {
				continue
			}
			counted[e.Key] = true
			lv, known := level[e.Key]
			if !known {
				f, ok := a.fsm.File(e.Key)
				if !ok {
					continue // replaced by compaction while we looked
				}
				lv = f.Level
				level[e.Key] = lv
			}
			pd.FilesPerLevel[strconv.Itoa(int(lv))]++
		}
		d.Bytes += pd.Bytes
		d.Records += pd.HighWatermark - pd.LogStartOffset
		d.Partitions = append(d.Partitions, pd)
	}
	return d
}

func (a *Agent) apiTopics(w http.ResponseWriter, r *http.Request) {
	a.syncRead(r.Context())
	resp := TopicsResponse{Topics: []TopicDetail{}}
	for _, t := range a.fsm.Topics() {
		resp.Topics = append(resp.Topics, a.topicDetail(t))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Agent) apiTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	a.syncRead(r.Context())
	t, ok := a.fsm.Topic(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("topic %q does not exist; GET %s/topics lists them", name, apiPrefix))
		return
	}
	writeJSON(w, http.StatusOK, a.topicDetail(t))
}

// apiCreateTopic creates a topic through the cluster's own Kafka listener,
// so the console gets exactly the validation and errors Kafka clients get.
func (a *Agent) apiCreateTopic(w http.ResponseWriter, r *http.Request) {
	var req CreateTopicRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf(`body must be JSON like {"name":"orders","partitions":3,"configs":{"retention.ms":"86400000"}}: %w`, err))
		return
	}
	if req.Name == "" {
		writeError(w, http.StatusBadRequest, errors.New(`"name" is required`))
		return
	}
	partitions := req.Partitions
	if partitions <= 0 {
		partitions = -1 // the broker's default
	}
	configs := map[string]*string{}
	for k, v := range req.Configs {
		configs[k] = &v
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	adm, err := a.admin()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	res, err := adm.CreateTopic(ctx, partitions, -1, configs, req.Name)
	if err == nil {
		err = res.Err
		if err != nil && res.ErrMessage != "" {
			err = fmt.Errorf("%w: %s", err, res.ErrMessage)
		}
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		writeError(w, http.StatusConflict, fmt.Errorf("topic %q already exists: %w", req.Name, err))
		return
	case errors.Is(err, kerr.InvalidTopicException), errors.Is(err, kerr.InvalidPartitions),
		errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.InvalidReplicationFactor), errors.Is(err, kerr.PolicyViolation):
		writeError(w, http.StatusBadRequest, fmt.Errorf("cannot create topic %q: %w", req.Name, err))
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, fmt.Errorf("create topic %q: %w; retry, or check the agents' logs", req.Name, err))
		return
	}
	a.syncRead(ctx)
	t, _ := a.fsm.Topic(req.Name)
	writeJSON(w, http.StatusCreated, a.topicDetail(t))
}

// DeleteTopicResponse is DELETE /api/v1/topics/{topic}.
type DeleteTopicResponse struct {
	Deleted string `json:"deleted"`
}

func (a *Agent) apiDeleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	adm, err := a.admin()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	res, err := adm.DeleteTopic(ctx, name)
	if err == nil {
		err = res.Err
	}
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		writeError(w, http.StatusNotFound, fmt.Errorf("topic %q does not exist", name))
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, fmt.Errorf("delete topic %q: %w; retry, or check the agents' logs", name, err))
		return
	}
	writeJSON(w, http.StatusOK, DeleteTopicResponse{Deleted: name})
}
