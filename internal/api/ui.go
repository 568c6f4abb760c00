package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The dashboard is one page and its script and style sheet, embedded, with
// no build step and nothing loaded from elsewhere: it has to work while a
// CDN is down.
//
//go:embed ui/index.html ui/app.js ui/style.css
var uiFS embed.FS

// uiFile is an embedded file, ready to serve.
type uiFile struct {
	name        string
	contentType string
	body        []byte
	etag        string
}

// uiFiles are the files served under /ui/, and index.html at /.
var uiFiles = loadUI()

func loadUI() map[string]uiFile {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
	}
	files := map[string]uiFile{}
	entries, err := fs.ReadDir(uiFS, "ui")
	if err != nil {
		panic(fmt.Sprintf("api: embedded dashboard: %v", err)) // the embed directive guarantees it
	}
	for _, e := range entries {
		b, err := uiFS.ReadFile("ui/" + e.Name())
		if err != nil {
			panic(fmt.Sprintf("api: embedded dashboard: %v", err))
		}
		sum := sha256.Sum256(b)
		files[e.Name()] = uiFile{
			name:        e.Name(),
			contentType: types[path.Ext(e.Name())],
			body:        b,
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
	}
	return files
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, _ Actor) error {
	serveUI(w, r, uiFiles["index.html"])
	return nil
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request, _ Actor) error {
	f, ok := uiFiles[r.PathValue("file")]
	if !ok || f.name == "index.html" {
		return &apiError{status: http.StatusNotFound, msg: "no such file"}
	}
	serveUI(w, r, f)
	return nil
}

func serveUI(w http.ResponseWriter, r *http.Request, f uiFile) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
