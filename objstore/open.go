package objstore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Opener builds a Store from a parsed bucket URL whose scheme it was registered for.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a URL scheme (without "://") available to Open. It is meant
// to be called from init functions; registering a scheme twice panics, because
// two backends silently competing for one scheme would be a build mistake.
func Register(scheme string, opener Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if opener == nil {
		panic("objstore: Register opener is nil for scheme " + scheme)
	}
	if _, dup := openers[scheme]; dup {
		panic("objstore: Register called twice for scheme " + scheme)
	}
	openers[scheme] = opener
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	s := make([]string, 0, len(openers))
	for k := range openers {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Open parses a bucket URL and opens the store it names, e.g. file:///abs/path
// (created if missing) or mem://name (shared within the process). An unknown
// scheme or malformed URL yields an error naming the URL and the accepted schemes.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("objstore: bad bucket URL %q (accepted schemes: %s): %w", rawURL, schemeList(), err)
	}
	openersMu.RLock()
	opener, ok := openers[u.Scheme]
	openersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("objstore: bad bucket URL %q: unknown scheme %q (accepted schemes: %s)", rawURL, u.Scheme, schemeList())
	}
	s, err := opener(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("objstore: open %q: %w", rawURL, err)
	}
	return s, nil
}

func schemeList() string {
	s := Schemes()
	for i := range s {
		s[i] += "://"
	}
	return strings.Join(s, ", ")
}
