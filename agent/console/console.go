// Package console is Wisp's web console: a single page of plain HTML, CSS
// and JavaScript embedded in the binary, served by every agent at "/" and
// fed by the agent's JSON API (/api/v1/...). It loads nothing from anywhere
// else, so it works offline.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path the console's scripts and styles are served under.
const AssetPrefix = "/console/"

// Handler serves the page at "/" and its assets under AssetPrefix; mount it
// on both ("GET /{$}" and "GET /console/").
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	assets := http.StripPrefix(AssetPrefix, http.FileServerFS(sub))
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The assets change with the binary; a stale page after an upgrade
		// would call an API it does not match.
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(index)
			return
		}
		assets.ServeHTTP(w, r)
	})
}
