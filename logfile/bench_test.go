package logfile

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"
)

var benchLine = []byte("2026-11-29 10:00:00 INFO request served path=/api/v1/items status=200 took=1.2ms\n") // 81 bytes

// One entry per call, each its own write(2): the cost a container's line
// costs its monitor.
func BenchmarkWriteLine(b *testing.B) {
	w := mustOpen(b, logPath(b), Options{MaxSize: 10 << 20, MaxFiles: 3})
	defer w.Close()
	now := time.Now()
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteLine("stdout", benchLine, now); err != nil {
			b.Fatal(err)
		}
	}
}

// 32 KiB reads of output, as the monitor gets them from a pipe, cut into
// lines.
func BenchmarkStream(b *testing.B) {
	w := mustOpen(b, logPath(b), Options{MaxSize: 10 << 20, MaxFiles: 3})
	defer w.Close()
	chunk := bytes.Repeat(benchLine, 32<<10/len(benchLine))
	s := w.Stream("stdout")
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// The encoder alone, and encoding/json doing the same, for scale.
func BenchmarkEncode(b *testing.B) {
	now := time.Now()
	var buf []byte
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEntry(buf[:0], "stdout", benchLine, now)
	}
}

func BenchmarkEncodeJSONReference(b *testing.B) {
	now := time.Now()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		enc.Encode(jsonEntry{Log: string(benchLine), Stream: "stdout", Time: now})
	}
}

func BenchmarkRead(b *testing.B) {
	path := logPath(b)
	w := mustOpen(b, path, Options{})
	now := time.Now()
	const n = 100_000
	for range n {
		w.WriteLine("stdout", benchLine, now)
	}
	w.Close()
	b.SetBytes(int64(n * len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		Read(context.Background(), path, ReadOptions{Tail: All}, func(Entry) error { return nil })
	}
}

func BenchmarkDecodeJSONReference(b *testing.B) {
	line := appendEntry(nil, "stdout", benchLine, time.Now())
	var e jsonEntry
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		json.Unmarshal(line, &e)
	}
}

func BenchmarkDecode(b *testing.B) {
	line := appendEntry(nil, "stdout", benchLine, time.Now())
	line = line[:len(line)-1]
	var d decoder
	var e Entry
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		d.decode(line, &e)
	}
}
