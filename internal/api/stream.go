package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/store"
)

// Stream replay limits: a resuming client gets at most maxReplay missed
// events, fetched replayPage at a time; one that missed more reloads
// /api/v1/events.
const (
	replayPage = 1000
	maxReplay  = store.MaxLimit
	// streamRetry is the reconnection delay the stream asks clients for.
	streamRetry = 3 * time.Second
)

// stream serves GET /api/v1/stream, server-sent events:
//
//	event: service            a Service, whenever it changes (and each one
//	data: {...}               when the stream opens)
//
//	event: event              a store.Event, as it is stored
//	id: 00000000000000000042
//	data: {...}
//
// A client that comes back with Last-Event-ID (the header EventSource
// sends, or the last_event_id query parameter) first gets the events it
// missed. A comment every HeartbeatInterval keeps the connection alive. The
// stream ends when the client leaves, when the Backend's subscription ends
// and when the Server is closed.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, _ Actor) error {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	lastSeq, err := store.ParseID(last)
	if err != nil {
		return badRequest("Last-Event-ID: must be an event id, got %q", truncate(last, 100))
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		return &apiError{status: http.StatusServiceUnavailable, msg: "too many open streams"}
	}
	select {
	case <-s.done:
		return &apiError{status: http.StatusServiceUnavailable, msg: "the server is shutting down"}
	default:
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel() // ends the Backend's subscription
	sub := s.backend.Subscribe(ctx)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil // the headers are the whole answer
	}
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), s: s}
	if err := sw.raw(fmt.Sprintf("retry: %d\n\n", streamRetry.Milliseconds())); err != nil {
		return nil
	}

	// The subscription is open, so nothing that happens from here on is
	// missed; what it delivers that the snapshot or the replay already
	// had is a harmless repeat (services) or skipped (events, by id).
	for _, svc := range s.backend.Services() {
		if err := sw.send("service", "", normalizeService(svc)); err != nil {
			return nil
		}
	}
	if last != "" {
		if lastSeq, err = s.replay(sw, last); err != nil {
			return nil
		}
	}

	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-heartbeat.C:
			if err := sw.raw(": heartbeat\n\n"); err != nil {
				return nil
			}
		case m, ok := <-sub:
			if !ok {
				return nil
			}
			typ, id, data, keep := s.message(m, lastSeq)
			if !keep {
				continue
			}
			if err := sw.send(typ, id, data); err != nil {
				return nil
			}
			if id != "" {
				if seq, err := store.ParseID(id); err == nil {
					lastSeq = seq
				}
			}
		}
	}
}

// replay sends the events after the id last, oldest first, and returns
// the sequence number of the last one sent.
func (s *Server) replay(sw *sseWriter, last string) (uint64, error) {
	lastSeq, _ := store.ParseID(last) // the caller checked it
	after := last
	for sent := 0; sent < maxReplay; {
		evs, err := s.backend.Events(store.Query{After: after, Oldest: true, Limit: min(replayPage, maxReplay-sent)})
		if err != nil {
			s.log.Error("api: stream: replay events", "after", after, "err", err)
			return lastSeq, err
		}
		for _, ev := range evs {
			if err := sw.send("event", ev.ID, normalizeEvent(ev)); err != nil {
				return lastSeq, err
			}
			after = ev.ID
			if seq, err := store.ParseID(ev.ID); err == nil {
				lastSeq = seq
			}
		}
		sent += len(evs)
		if len(evs) < replayPage {
			break
		}
	}
	return lastSeq, nil
}

// message reads a StreamMessage: its SSE type, id and data, and whether to
// send it (an event already sent is not sent again).
func (s *Server) message(m StreamMessage, lastSeq uint64) (typ, id string, data any, keep bool) {
	switch m.Type {
	case "service":
		switch v := m.Data.(type) {
		case Service:
			return "service", "", normalizeService(v), true
		case *Service:
			if v != nil {
				return "service", "", normalizeService(*v), true
			}
		default:
			return "service", "", v, true
		}
	case "event":
		id = m.ID
		switch v := m.Data.(type) {
		case store.Event:
			if id == "" {
				id = v.ID
			}
			data = normalizeEvent(v)
		case *store.Event:
			if v != nil {
				if id == "" {
					id = v.ID
				}
				data = normalizeEvent(*v)
			}
		default:
			data = v
		}
		if data == nil {
			break
		}
		if seq, err := store.ParseID(id); err == nil && id != "" && seq <= lastSeq {
			return "", "", nil, false
		}
		return "event", id, data, true
	}
	s.log.Warn("api: stream: dropped a message of unknown type or without data", "type", m.Type)
	return "", "", nil, false
}

// sseWriter writes server-sent events, each with a write deadline, so that
// a client that stops reading is dropped rather than held forever.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	s  *Server
}

func (sw *sseWriter) send(typ, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		// Skip the message, keep the stream.
		sw.s.log.Error("api: stream: encode message", "type", typ, "id", id, "err", err)
		return nil
	}
	msg := "event: " + typ + "\n"
	if strings.ContainsAny(id, "\r\n\x00") {
		// An id must not break the framing; without one the client's
		// Last-Event-ID stays at the previous event.
		sw.s.log.Warn("api: stream: dropped an invalid event id", "id", truncate(id, 100))
		id = ""
	}
	if id != "" {
		msg += "id: " + id + "\n"
	}
	return sw.raw(msg + "data: " + string(b) + "\n\n")
}

func (sw *sseWriter) raw(s string) error {
	// Servers that cannot set deadlines (a ResponseRecorder) just write.
	if err := sw.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := sw.w.Write([]byte(s)); err != nil {
		return err
	}
	if err := sw.rc.Flush(); err != nil {
		return err
	}
	return nil
}
