package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wisp-stream/wisp/fsm"
)

// DeleteTopics v0-v6. v6 may name topics by id.
func init() {
	register(api{key: 20, min: 0, max: 6, handle: immediate(handleDeleteTopics)})
}

func handleDeleteTopics(c *clientConn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	md := c.s.backend.Metadata()

	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	for _, tg := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = tg.name, tg.id
		var (
			info fsm.TopicInfo
			ok   bool
		)
		if tg.name != nil && *tg.name != "" {
			info, ok = md.Topic(*tg.name)
		} else {
			info, ok = md.TopicByID(tg.id)
		}
		if !ok {
			code := kerr.UnknownTopicOrPartition.Code
			if tg.name == nil || *tg.name == "" {
				code = kerr.UnknownTopicID.Code
			}
			rt.ErrorCode = code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		name := info.Name
		rt.Topic, rt.TopicID = &name, info.ID
		res, err := c.s.applyTopic(c.ctx, &fsm.DeleteTopic{Name: info.Name, NowMs: time.Now().UnixMilli()})
		switch {
		case err != nil:
			rt.ErrorCode = kerr.RequestTimedOut.Code
			msg := "could not commit topic deletion: " + err.Error()
			rt.ErrorMessage = &msg
		case res.ErrorCode != 0:
			rt.ErrorCode = res.ErrorCode
			if res.ErrorMessage != "" {
				rt.ErrorMessage = &res.ErrorMessage
			}
		default:
			c.s.log.Info("deleted topic", "topic", info.Name)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
