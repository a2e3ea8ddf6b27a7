package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// slogWriter turns memberlist's "[LEVEL] memberlist: message" lines into
// slog records at the matching level. memberlist only takes a *log.Logger,
// so this is the adapter between the two.
type slogWriter struct{ log *slog.Logger }

// newStdLogger returns a *log.Logger for memberlist that writes to l.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

var levelTags = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write implements io.Writer; log.Logger calls it once per line.
func (w slogWriter) Write(p []byte) (int, error) {
	msg, level := parseLogLine(string(bytes.TrimRight(p, "\r\n")))
	ctx := context.Background()
	if w.log.Enabled(ctx, level) {
		w.log.Log(ctx, level, msg)
	}
	return len(p), nil
}

// parseLogLine splits a memberlist line into its message and level. Lines
// without a level tag are logged at info.
func parseLogLine(line string) (string, slog.Level) {
	level := slog.LevelInfo
	for _, t := range levelTags {
		if rest, ok := strings.CutPrefix(line, t.tag); ok {
			line, level = strings.TrimSpace(rest), t.level
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	return line, level
}
