package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppend measures one durable append (one fsynced transaction).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := Event{Time: t0, Service: "www", Type: TypeState, From: "healthy", To: "degraded",
		Message: "primary failing at lab-a", Evidence: map[string]any{"vantages_down": []string{"lab-a"}, "class": "refused"}}
	for b.Loop() {
		if _, err := s.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel measures appends from several goroutines (each is
// still its own transaction).
func BenchmarkAppendParallel(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ev := Event{Time: t0, Service: "www", Type: TypeDNS, Message: "applied"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEventsByService queries one service's newest 100 events out of
// 100,000 events of 20 services through the service index; "rare" is a
// service with one event in 1000. For comparison, "scan" is what the same
// question costs without the index: decoding the newest MaxLimit events of
// all services to find the 10 of "rare" among them.
func BenchmarkEventsByService(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const total = 100000
	batch := make([]Event, 0, 5000)
	for i := range total {
		svc := fmt.Sprintf("svc-%d", i%19)
		if i%1000 == 0 {
			svc = "rare"
		}
		batch = append(batch, Event{Time: t0.Add(time.Duration(i) * time.Second), Service: svc, Type: TypeState, Message: "m"})
		if len(batch) == cap(batch) {
			if _, err := s.AppendMany(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	run := func(name string, q Query, want int, filter func([]Event) []Event) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.Events(q)
				if err != nil {
					b.Fatal(err)
				}
				if filter != nil {
					got = filter(got)
				}
				if len(got) != want {
					b.Fatalf("%d events, want %d", len(got), want)
				}
			}
		})
	}
	run("common", Query{Service: "svc-3", Limit: 100}, 100, nil)
	run("rare", Query{Service: "rare", Limit: 100}, 100, nil)
	run("since-last-hour", Query{Service: "svc-3", Since: t0.Add((total - 3600) * time.Second), Limit: 100}, 100, nil)
	run("all-services-newest", Query{Limit: 100}, 100, nil)
	run("scan", Query{}, 10, func(evs []Event) []Event {
		var out []Event
		for _, ev := range evs {
			if ev.Service == "rare" {
				out = append(out, ev)
			}
		}
		return out
	})
}
