package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler starts serving req. It runs on the connection's reader goroutine,
// so whatever it does before returning happens in request order (a produce
// request is appended to the pending file here); the returned respond runs
// on the writer goroutine and may wait.
type handler func(c *clientConn, req kmsg.Request, in *inflight) respond

// api is one served Kafka API key and the versions Wisp implements for it.
type api struct {
	key      int16
	min, max int16
	handle   handler
}

// apis holds every served key; each handler file registers itself from init
// so the ApiVersions table can never disagree with what is implemented.
var apis = map[int16]api{}

func register(a api) {
	if _, dup := apis[a.key]; dup {
		panic("kafka: api key registered twice: " + kmsg.NameForKey(a.key))
	}
	if max := kmsg.RequestForKey(a.key).MaxVersion(); a.max > max {
		panic("kafka: " + kmsg.NameForKey(a.key) + " registered beyond what kmsg can encode")
	}
	apis[a.key] = a
}

// sortedAPIs returns the registrations by key, for stable ApiVersions output.
func sortedAPIs() []api {
	out := make([]api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// sync wraps a handler whose whole work is done on the reader goroutine, so
// its side effects are ordered with the connection's other requests.
func immediate(f func(c *clientConn, req kmsg.Request) kmsg.Response) handler {
	return func(c *clientConn, req kmsg.Request, _ *inflight) respond {
		resp := f(c, req)
		return func() kmsg.Response { return resp }
	}
}
