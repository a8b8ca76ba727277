// A command-line Kafka client on franz-go, with its default settings, for Floe's
// compatibility tests. Same interface as the other clients in tools/clients:
//
//	produce --bootstrap B --topic T --count N [--start S]
//	consume --bootstrap B --topic T --group G --count N --timeout-ms X
//	create-topic --bootstrap B --topic T --partitions P
//
// One JSON line per acknowledged or consumed record, then a summary line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type line struct {
	P int32  `json:"p"`
	O int64  `json:"o"`
	K string `json:"k"`
	V string `json:"v"`
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floe-franz produce|consume|create-topic --bootstrap host:port --topic T ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	bootstrap := fs.String("bootstrap", "", "")
	topic := fs.String("topic", "", "")
	count := fs.Int("count", 0, "")
	start := fs.Int("start", 0, "")
	group := fs.String("group", "floe-test", "")
	timeoutMs := fs.Int("timeout-ms", 60000, "")
	partitions := fs.Int("partitions", 1, "")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "produce":
		err = produce(*bootstrap, *topic, *start, *count)
	case "consume":
		err = consume(*bootstrap, *topic, *group, *count, time.Duration(*timeoutMs)*time.Millisecond)
	case "create-topic":
		err = createTopic(*bootstrap, *topic, int32(*partitions))
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func produce(bootstrap, topic string, start, count int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	var mu sync.Mutex
	var firstErr error
	acked := 0
	var wg sync.WaitGroup
	for i := start; i < start+count; i++ {
		wg.Add(1)
		rec := &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", i)), Value: []byte(fmt.Sprintf("v-%d", i))}
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			acked++
			emit(line{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
		})
	}
	wg.Wait()
	emit(map[string]any{"done": true, "acked": acked})
	return firstErr
}

func consume(bootstrap, topic, group string, count int, timeout time.Duration) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := 0
	for seen < count && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		for _, fe := range fetches.Errors() {
			if fe.Err != context.DeadlineExceeded && fe.Err != context.Canceled {
				fmt.Fprintln(os.Stderr, "fetch error:", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			emit(line{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
			seen++
		})
	}
	commitCtx, commitCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer commitCancel()
	if err := cl.CommitUncommittedOffsets(commitCtx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	emit(map[string]any{"done": true, "consumed": seen})
	return nil
}

func createTopic(bootstrap, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := adm.CreateTopics(ctx, partitions, -1, nil, topic)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	emit(map[string]any{"done": true})
	return nil
}
